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

from consumers.worker import WorkerContext
from intentml.domain.statuses import FINAL_VERSION_STATUSES
from intentml.events.envelope import Envelope, new_id
from intentml.events.types import (
    BuildFailed,
    BuildProgressed,
    BuildStarted,
    ModelCreated,
    TrainingRequest,
    VersionRequested,
    VersionTrained,
)
from intentml.infra.storage import UnsafePath, artifact_ref, upload_path
from intentml.ml.search import DEFAULT_ITERATIONS
from intentml.ml.train import TrainingFailed, TrainingResult, TrainingSpec, train
from projections import queries as q

log = logging.getLogger(__name__)


def training_request(env: Envelope) -> tuple[str, TrainingRequest] | None:
    """The model id and training request an event carries, if it is one."""
    if isinstance(env.data, ModelCreated | VersionRequested):
        return env.data.model_id, env.data.training
    return None


class TrainerHandler:
    """Trains each accepted, not yet final version exactly as its request says."""

    def __init__(self, data_dir: Path, concurrency: int = 1) -> None:
        self.data_dir = data_dir
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="train")
        self.worker_name = f"trainer@{socket.gethostname()}"
        self.builds = 0

    async def handle(self, ctx: WorkerContext, env: Envelope, partition: int, offset: int) -> None:
        """Build the version `env` requests, unless rejected or already built."""
        found = training_request(env)
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
        loop = asyncio.get_running_loop()
        progress: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()

        def on_progress(percent: int, message: str) -> None:
            loop.call_soon_threadsafe(progress.put_nowait, (percent, message))

        async def publish_progress() -> None:
            while (item := await progress.get()) is not None:
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

        try:
            artifact = artifact_ref(env.account_id, model_id, req.version)
            dataset = upload_path(self.data_dir, env.account_id, req.upload_id, req.dataset_format)
        except UnsafePath as exc:
            # Only a forged or corrupt event can get here (the API checks every id); the
            # build still ends, with a reason, instead of crashing the worker.
            return BuildFailed(
                job_id=req.job_id, version=req.version, code="invalid_request", message=str(exc)
            )
        publisher = asyncio.create_task(publish_progress())
        spec = TrainingSpec(
            target=req.target,
            intent=req.intent,
            metric=req.metric,
            task=req.task,
            output_fields=req.output_fields,
            target_reason=req.target_reason,
            max_iterations=req.max_iterations or DEFAULT_ITERATIONS,
            time_budget_s=req.time_budget_s,
        )
        try:
            result: TrainingResult = await loop.run_in_executor(
                self.executor,
                train,
                dataset,
                req.dataset_format,
                spec,
                self.data_dir / artifact,
                on_progress,
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
            progress.put_nowait(None)
            await publisher
        return VersionTrained(
            job_id=req.job_id,
            version=req.version,
            artifact=artifact,
            task=result.task,
            metric_name=result.metric_name,
            metric_value=result.metric_value,
            metrics=result.metrics,
            feature_importance=result.feature_importance,
            features=result.features,
            dropped_columns=result.dropped_columns,
            rows_used=result.rows_used,
            training_seconds=result.training_seconds,
            input_schema=result.input_schema,
            output_schema=result.output_schema,
            report=result.report,
        )
