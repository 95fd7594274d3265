"""`GET /models/build-logs`: the lines every build wrote, from the log's events."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromQuery

from intentml.api.lookups import Req, reserved_name
from intentml.api.pagination import page_params, pagination
from intentml.api.platform import PlatformDep
from intentml.api.schemas import BuildLogLine, BuildLogList
from intentml.domain.names import version_label
from projections.read_models.build_logs import build_logs_page

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class BuildLogController(Controller):
    path = "/models/build-logs"
    tags = ["models"]

    @get("/", summary="Build log lines, oldest first, paginated")
    async def build_logs(
        self,
        request: Req,
        platform: PlatformDep,
        limit: FromQuery[int] = DEFAULT_LIMIT,
        offset: FromQuery[int] = 0,
        job_id: FromQuery[str | None] = None,
        model_name: FromQuery[str | None] = None,
    ) -> BuildLogList:
        """Every line of the account's builds: request, start, data summary, training
        progress, the result and the serving check, or the failure. Filter by `job_id` or
        `model_name`."""
        page_params(limit, offset, MAX_LIMIT)
        lines, total = await build_logs_page(
            platform.pool, request.user.account_id, job_id, model_name, limit, offset
        )
        logs = [
            BuildLogLine(
                job_id=line.job_id,
                model_name=line.model_name,
                model_version=version_label(line.version),
                timestamp=line.logged_at,
                level=line.level,
                message=line.message,
            )
            for line in lines
        ]
        return BuildLogList(logs, pagination(total, limit, offset, len(logs)))

    @post("/", include_in_schema=False)
    async def create_reserved(self) -> None:
        """`POST /models/build-logs` would create a model named `build-logs`: this path
        answers it (else the router would say 405), with the create endpoint's 400."""
        raise reserved_name("build-logs")
