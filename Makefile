# Two commands a new user needs: `make run` and `make test`. Each sets itself up:
# a pinned uv in .tools/, then the locked dependencies in .venv/ (uv.lock).
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck check bench-train bench-inference bench-quality bench-replay bench-log bench-intent bench-builds bench-dask clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	UV_PYTHON=$(PYTHON) $(UV) sync --frozen --quiet
	touch $@

## Start the whole platform in the foreground (Ctrl-C stops it).
run: $(VENV)/.synced
	$(BIN)/intentml up

## Run the whole test suite (unit, integration, end to end) and the linters.
test: $(VENV)/.synced
	$(BIN)/ruff check src projections consumers tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(VENV)/.synced
	$(BIN)/ruff check src projections consumers tests benchmarks examples
	$(BIN)/ruff format --check src projections consumers tests benchmarks examples

typecheck: $(VENV)/.synced
	$(BIN)/mypy

## Small builds beside a big one, and 16 at once, against the platform (intentml up).
bench-builds: $(VENV)/.synced
	$(BIN)/python benchmarks/builds.py $(ARGS)

bench-dask: $(VENV)/.synced
	$(BIN)/python benchmarks/dask_build.py $(ARGS)

bench-train: $(VENV)/.synced
	$(BIN)/python benchmarks/train_latency.py

## Inference req/s and latency (wrk) next to a bare Litestar endpoint and raw LightGBM.
bench-inference: $(VENV)/.synced
	$(BIN)/python benchmarks/inference.py $(ARGS)

## Cross-validated model quality on public datasets next to LightGBM defaults and FLAML.
# The datasets and FLAML live in the `bench` group, which the plain `uv sync` of
# `.venv/.synced` (and so `make test`) leaves out; the next plain sync removes them again.
bench-quality: $(VENV)/.synced
	UV_PYTHON=$(PYTHON) $(UV) sync --frozen --quiet --group bench
	$(BIN)/python benchmarks/quality.py $(ARGS)

## Rebuild of every projection from 1,000,000 events next to a raw COPY; export and verify.
bench-replay: $(VENV)/.synced
	$(BIN)/python benchmarks/replay.py $(ARGS)

## The durable log against the in-memory one; time to serve again after a kill -9 of each process.
bench-log: $(VENV)/.synced
	$(BIN)/python benchmarks/log_durability.py $(ARGS)

## Intent resolution: right / refused / wrong on public datasets' published columns, and its speed.
bench-intent: $(VENV)/.synced
	$(BIN)/python benchmarks/intent.py $(ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
