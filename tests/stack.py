"""The whole platform in one event loop: projector, trainer, deployer and the API.

Real PostgreSQL, real broker, real LightGBM; only the process boundaries are
folded into tasks (the end-to-end tests run the real processes).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import uvicorn
from litestar import Litestar

from consumers.deployer import DeployerHandler
from consumers.trainer import TrainerHandler, executor_for
from consumers.worker import Worker, WorkerContext
from intentml.api.app import create_app
from intentml.api.server import server_options
from intentml.cli.bootstrap import ensure_admin_key
from intentml.config import Settings
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.log import EventLog, new_producer
from intentml.infra.blobs import BlobStore, open_blob_store
from intentml.infra.builds import BuildExecutor, BuildJob, BuildOutcome, Cancelled, Progress
from intentml.infra.builds.local import LocalExecutor
from intentml.infra.builds.stored import StoredBuilds
from intentml.infra.db import create_pool
from intentml.infra.embedded import free_port
from intentml.infra.setup import prepare
from projections.projector import Projector
from tests.data import CHURN_INTENT, churn_rows, to_csv


class GatedExecutor:
    """The real executor, with a gate builds wait at before they run (`hold_trainer`):
    synchronization for tests, the builds themselves are real."""

    def __init__(self, executor: BuildExecutor) -> None:
        self.executor = executor
        self.capacity = executor.capacity
        self.gate = asyncio.Event()
        self.gate.set()
        #: Builds waiting at the gate: each one's cancel reason, once cancelled.
        self._waiting: dict[str, asyncio.Future[str]] = {}

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Builds wait at the gate until the block ends."""
        self.gate.clear()
        try:
            yield
        finally:
            self.gate.set()

    async def run(self, job: BuildJob, progress: Progress) -> BuildOutcome:
        """Wait at the gate, then run `job` on the real executor; a build cancelled at
        the gate ends `Cancelled` without running, as the port says."""
        cancelled = asyncio.get_running_loop().create_future()
        self._waiting[job.job_id] = cancelled
        opened = asyncio.ensure_future(self.gate.wait())
        try:
            await asyncio.wait({opened, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            opened.cancel()
            del self._waiting[job.job_id]
        if cancelled.done():
            return Cancelled(cancelled.result())
        return await self.executor.run(job, progress)

    def cancel(self, job_id: str, reason: str) -> bool:
        """Cancel a build waiting at the gate, or on the real executor."""
        waiting = self._waiting.get(job_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(reason)
            return True
        return self.executor.cancel(job_id, reason)

    async def close(self) -> None:
        """Close the real executor."""
        self.gate.set()
        await self.executor.close()


@dataclass
class Stack:
    """Handles on a running in-process platform."""

    settings: Settings
    client: httpx.AsyncClient
    pool: asyncpg.Pool
    log: EventLog
    watcher: CheckpointWatcher
    trainer: TrainerHandler
    stop: asyncio.Event
    projector: asyncio.Task[None]
    #: The API's app (its platform: `app.state.platform`).
    app: Litestar | None = None

    async def wait_status(
        self,
        model: str,
        version: str = "v1",
        final: tuple[str, ...] = ("READY", "ERROR"),
        timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        """Poll the status endpoint, as a client would, until a final status."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            r = await self.client.get(f"/models/{model}/{version}/status")
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            if body["status"] in final:
                return body
            assert asyncio.get_running_loop().time() < deadline, f"still {body} after {timeout_s}s"
            # A client polls; the API offers nothing to block on for a build.
            await asyncio.sleep(0.05)

    def local_executor(self) -> LocalExecutor:
        """The real local executor behind the stack's gate and its object store."""
        gated = self.trainer.executor
        assert isinstance(gated, GatedExecutor)
        inner = gated.executor
        if isinstance(inner, StoredBuilds):
            inner = inner.inner
        assert isinstance(inner, LocalExecutor), inner
        return inner

    async def wait_queued(self, model: str, version: str = "v1") -> dict[str, Any]:
        """The status of a PENDING build once its trainer has queued it (it has a
        `queue_position`)."""
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            r = await self.client.get(f"/models/{model}/{version}/status")
            body: dict[str, Any] = r.json()
            if body.get("queue_position") is not None:
                return body
            assert asyncio.get_running_loop().time() < deadline, f"not queued: {body}"
            await asyncio.sleep(0.05)  # a client polls

    @contextlib.contextmanager
    def hold_trainer(self) -> Iterator[None]:
        """Builds that get a slot meanwhile start (BUILDING) but wait before they run
        until the block ends; with every slot taken, later ones stay PENDING, queued.
        Nothing is faked but the wait, no timing assumptions, and the builds go on even
        when the block fails."""
        assert isinstance(self.trainer.executor, GatedExecutor)
        with self.trainer.executor.held():
            yield

    async def upload(self, rows: list[dict[str, object]], filename: str = "d.csv") -> str:
        """Upload rows as a CSV file; the upload_id."""
        r = await self.client.post("/uploads", files={"file": (filename, to_csv(rows), "text/csv")})
        assert r.status_code == 201, r.text
        upload_id: str = r.json()["upload_id"]
        return upload_id

    async def ready_model(
        self,
        name: str = "churn",
        rows: list[dict[str, object]] | None = None,
        intent: str = CHURN_INTENT,
        **extra: object,
    ) -> dict[str, Any]:
        """Upload `rows` (churn data by default), create model `name`, wait until READY."""
        upload_id = await self.upload(rows if rows is not None else churn_rows(300))
        r = await self.client.post(
            f"/models/{name}", json={"intent": intent, "upload_id": upload_id, **extra}
        )
        assert r.status_code == 202, r.text
        status = await self.wait_status(name, "v1")
        assert status["status"] == "READY", status
        created: dict[str, Any] = r.json()
        return created


@contextlib.asynccontextmanager
async def platform_stack(
    settings: Settings,
    *,
    trainer: bool = True,
    deployer: bool = True,
    role_data_dirs: dict[str, Path] | None = None,
) -> AsyncIterator[Stack]:
    """Start the platform's roles as tasks and an API client with the admin key.

    `role_data_dirs` gives the trainer and the deployer a data dir of their own (by
    role name), as on machines of their own; by default they share the settings'."""
    dirs = role_data_dirs or {}

    def settings_of(role: str) -> Settings:
        return msgspec.structs.replace(settings, data_dir=dirs.get(role, settings.data_dir))

    def blobs_of(role: str) -> BlobStore:
        return open_blob_store(settings_of(role))

    await prepare(settings)
    pool = await create_pool(settings.database_url, max_size=10)
    producer = new_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    watcher = CheckpointWatcher(settings.database_url)
    await watcher.start()
    log = EventLog(producer, pool, settings.topic)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(
            Projector(
                pool,
                settings.kafka_bootstrap_servers,
                settings.topic,
                group_id=f"p-{settings.topic}",
            ).run(stop)
        )
    ]
    trainer_settings = settings_of("trainer")
    trainer_handler = TrainerHandler(
        trainer_settings, executor=GatedExecutor(executor_for(trainer_settings))
    )
    roles: list[tuple[str, Any]] = []
    if trainer:
        roles.append(("trainer", trainer_handler))
    if deployer:
        roles.append(("deployer", DeployerHandler(settings.data_dir, blobs_of("deployer"))))
    for name, handler in roles:
        ctx = WorkerContext(name, pool, log, watcher, stop)
        worker = Worker(
            ctx,
            handler,
            settings.kafka_bootstrap_servers,
            settings.topic,
            group_id=f"{name}-{settings.topic}",
        )
        tasks.append(asyncio.create_task(worker.run()))
    try:
        key = await ensure_admin_key(settings, pool, log, watcher)
        async with (
            api_server(settings) as (base_url, app),
            httpx.AsyncClient(
                base_url=base_url, timeout=30.0, headers={"Authorization": f"Bearer {key}"}
            ) as client,
        ):
            yield Stack(settings, client, pool, log, watcher, trainer_handler, stop, tasks[0], app)
    finally:
        stop.set()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        await watcher.stop()
        await producer.stop()
        await pool.close()
        for result in done:
            if isinstance(result, Exception):
                raise result


@contextlib.asynccontextmanager
async def api_server(settings: Settings) -> AsyncIterator[tuple[str, Litestar]]:
    """One API process (an app with its own platform: pool, watcher, caches) on a real
    socket in this loop; its base URL and app. Two of these share the database like two
    API processes of a deployment."""
    # In this loop, not on a thread: Litestar's test client would run the app on another
    # thread and block this loop, starving the projector.
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=free_port(),
            log_level="warning",
            lifespan="on",
            loop="none",
            **server_options(settings),
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "the API server failed to start"
            await asyncio.sleep(0.01)  # uvicorn exposes no startup event
        yield f"http://127.0.0.1:{server.config.port}", app
    finally:
        server.should_exit = True
        await serving


def error_of(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The `error` object of a response in the documented format, checked."""
    assert r.status_code == status, (r.request.url, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    assert err["code"] == code and err["status"] == status, err
    assert isinstance(err["message"], str) and err["message"]
    return err


def bad_request(r: httpx.Response) -> dict[str, Any]:
    """`error_of` a 400 `invalid_request`."""
    return error_of(r, 400, "invalid_request")
