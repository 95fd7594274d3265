"""The trainer: builds the versions that accepted requests ask for.

LightGBM runs in a thread pool so the event loop keeps polling Kafka and
publishing progress while a build runs; every progress line becomes a
`BuildProgressed` event, so build logs are part of the log.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import assert_never

from consumers.build_files import build_through_store
from consumers.worker import WorkerContext
from intentml.domain.statuses import FINAL_VERSION_STATUSES
from intentml.events.envelope import Envelope, new_id
from intentml.events.types import (
    AccountCreated,
    ApiKeyIssued,
    ApiKeyLimitsChanged,
    ApiKeyRevoked,
    BuildFailed,
    BuildProgressed,
    BuildStarted,
    DatasetUploaded,
    DeploymentActivated,
    DeploymentFailed,
    DeploymentRequested,
    DeploymentStopped,
    ModelCreated,
    ModelDeleted,
    ModelUpdated,
    TrainingRequest,
    UndeployRequested,
    VersionReady,
    VersionRequested,
    VersionTrained,
)
from intentml.infra.blobs import BlobStore, LocalBlobs
from intentml.infra.storage import UnsafePath, artifact_ref, upload_key
from intentml.ml.train import TrainingFailed, TrainingResult, TrainingSpec, train
from projections import queries as q

log = logging.getLogger(__name__)


def requested_training(env: Envelope) -> tuple[str, TrainingRequest] | None:
    """The model id and training request an event carries, if it is one."""
    d = env.data
    match d:
        case ModelCreated() | VersionRequested():
            return d.model_id, d.training
        case (
            AccountCreated()
            | ApiKeyIssued()
            | ApiKeyRevoked()
            | ApiKeyLimitsChanged()
            | DatasetUploaded()
            | ModelUpdated()
            | ModelDeleted()
            | DeploymentRequested()
            | DeploymentActivated()
            | DeploymentFailed()
            | UndeployRequested()
            | DeploymentStopped()
            | BuildStarted()
            | BuildProgressed()
            | VersionTrained()
            | VersionReady()
            | BuildFailed()
        ):
            return None  # not a request to train
        case _:
            assert_never(d)


class TrainerHandler:
    """Trains each accepted, not yet final version exactly as its request says."""

    def __init__(
        self, data_dir: Path, concurrency: int = 1, blobs: BlobStore | None = None
    ) -> None:
        self.data_dir = data_dir
        self.blobs = blobs or LocalBlobs(data_dir)
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="train")
        self.worker_name = f"trainer@{socket.gethostname()}"
        self.builds = 0

    async def handle(self, ctx: WorkerContext, env: Envelope, partition: int, offset: int) -> None:
        """Build the version `env` requests, unless rejected or already built."""
        found = requested_training(env)
        if found is None or not await ctx.accepted(env, partition, offset):
            return
        model_id, req = found
        row = await ctx.pool.fetchrow(q.VERSION_BY_JOB, req.job_id)
        if row is None or row["status"] in FINAL_VERSION_STATUSES or row["artifact"] is not None:
            log.info("job %s already built or gone; duplicate delivery ignored", req.job_id)
            return
        # A worker lost mid-build leaves the request uncommitted, so the build may be
        # started again: each attempt is named, and the fold keeps only the latest's progress.
        attempt = new_id()
        await ctx.emit(
            env,
            BuildStarted(
                job_id=req.job_id,
                version=req.version,
                worker=self.worker_name,
                attempt_id=attempt,
            ),
        )
        self.builds += 1
        result = await self._train(ctx, env, model_id, req, attempt)
        await ctx.emit(env, result)

    async def _train(
        self,
        ctx: WorkerContext,
        env: Envelope,
        model_id: str,
        req: TrainingRequest,
        attempt: str,
    ) -> VersionTrained | BuildFailed:
        """Run the build in the thread pool, publishing its progress as it goes; the
        outcome is the event that ends the build."""
        try:
            artifact = artifact_ref(env.account_id, model_id, req.version)
            dataset = upload_key(env.account_id, req.upload_id, req.dataset_format)
        except UnsafePath as exc:
            # Only a forged or corrupt event can get here (the API checks every id); the
            # build still ends, with a reason, instead of crashing the worker.
            return BuildFailed(
                job_id=req.job_id, version=req.version, code="invalid_request", message=str(exc)
            )
        spec = TrainingSpec(
            target=req.target,
            intent=req.intent,
            target_reason=req.target_reason,
            output_fields=req.output_fields,
            options=req.options,
            interpretation=req.interpretation,
        )
        loop = asyncio.get_running_loop()
        progress = _ProgressPublisher(ctx, env, req, attempt)
        try:
            result: TrainingResult = await build_through_store(
                self.blobs,
                dataset,
                artifact,
                lambda path, out: loop.run_in_executor(
                    self.executor, train, path, req.dataset_format, spec, out, progress.from_thread
                ),
            )
        except TrainingFailed as exc:
            return BuildFailed(
                job_id=req.job_id, version=req.version, code=exc.code, message=str(exc)
            )
        except Exception as exc:  # a bug or a broken file: the user still gets a final state
            log.exception("training job %s crashed", req.job_id)
            return BuildFailed(
                job_id=req.job_id,
                version=req.version,
                code="internal_error",
                message=f"training failed unexpectedly: {exc}",
            )
        finally:
            await progress.close()
        return VersionTrained(
            job_id=req.job_id, version=req.version, artifact=artifact, result=result
        )


class _ProgressPublisher:
    """Turns a build's progress lines (reported from its thread) into `BuildProgressed`
    events, in order, from the event loop."""

    def __init__(
        self, ctx: WorkerContext, env: Envelope, req: TrainingRequest, attempt: str
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._publish(ctx, env, req, attempt))

    def from_thread(self, percent: int, message: str) -> None:
        """The build's `progress` callback: safe to call from the training thread."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (percent, message))

    async def close(self) -> None:
        """Publish what is queued, then stop."""
        self.queue.put_nowait(None)
        await self.task

    async def _publish(
        self, ctx: WorkerContext, env: Envelope, req: TrainingRequest, attempt: str
    ) -> None:
        while (item := await self.queue.get()) is not None:
            # build_progress 5..90 while training; the serving check takes it to 100
            pct = 5 + int(item[0] * 0.85)
            await ctx.emit(
                env,
                BuildProgressed(
                    job_id=req.job_id,
                    version=req.version,
                    progress=pct,
                    lines=[item[1]],
                    attempt_id=attempt,
                ),
            )
