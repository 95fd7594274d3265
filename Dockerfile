# One image for every role; compose.yaml picks the role with the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
COPY projections ./projections
COPY consumers ./consumers
RUN uv sync --frozen --no-dev --no-editable
ENV PATH=/opt/venv/bin:$PATH INTENTML_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
CMD ["intentml", "api"]
