"""The trainer: builds the versions that accepted requests ask for.

Consuming is not running: an accepted request becomes a job in the trainer's
`BuildQueue` and the consumer moves on. The queue starts builds on an executor
(`intentml.infra.builds`), fairly and within its limits, and reports each one as
events; every progress line becomes a `BuildProgressed` event, so build logs are part
of the log. Builds survive the trainer: when it is given partitions (at start, or from
a trainer that left), it finds their versions that were requested and never finished
in the read models, and builds them again. An accepted `BuildCancelRequested` stops
its build (`BuildQueue.cancel`); one requested and never reported is ended on
assignment, not built again.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import assert_never

from consumers.build_queue import BuildQueue, Job, cancel_reason
from consumers.worker import WorkerContext
from intentml.config import Settings
from intentml.domain.scheduling import Limits
from intentml.domain.statuses import FINAL_VERSION_STATUSES, VersionStatus, sql_literal
from intentml.events.envelope import Envelope, decode
from intentml.events.types import (
    AccountCreated,
    ApiKeyIssued,
    ApiKeyLimitsChanged,
    ApiKeyRevoked,
    BuildCancelled,
    BuildCancelRequested,
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
from intentml.infra.blobs import open_blob_store
from intentml.infra.builds import BuildExecutor, BuildJob
from intentml.infra.builds.local import LocalExecutor
from intentml.infra.builds.stored import StoredBuilds
from intentml.infra.storage import UnsafePath, artifact_ref, upload_key
from intentml.ml.train import TrainingSpec
from projections import queries as q
from projections.read_models.uploads import account_upload

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
            | BuildCancelRequested()
            | BuildCancelled()
        ):
            return None  # not a request to train
        case _:
            assert_never(d)


#: The requests of builds that never finished, in the given partitions (a trainer that
#: stopped or died left them; this one builds them again, or ends those whose cancel was
#: requested).
_UNFINISHED = f"""
SELECT e.partition, e.value, v.job_id, v.version,
       v.cancel_requested_at IS NOT NULL AS cancelling, v.cancel_requested_by, v.cancel_reason
FROM versions v
JOIN models m USING (model_id)
JOIN events e ON e.account_id = v.account_id AND e.model_name = v.model_name
WHERE v.status IN ({sql_literal(VersionStatus.PENDING)}, {sql_literal(VersionStatus.BUILDING)})
  AND v.artifact IS NULL AND m.deleted_at IS NULL
  AND e.accepted AND e.type IN ('ModelCreated', 'VersionRequested')
  AND e.partition = ANY($1::int[])
ORDER BY e.partition, e."offset"
"""


def executor_for(settings: Settings) -> BuildExecutor:
    """The executor the settings ask for: the Dask cluster of `INTENTML_DASK_SCHEDULER`
    (its workers fetch the dataset and store the artifact themselves), else the local
    one, a process per build. The trainer's jobs name their files by blob store key:
    `StoredBuilds` fetches the dataset to this machine and stores the artifact, the
    builds run on local paths."""
    if settings.dask_scheduler:
        from intentml.infra.builds.dask import DaskExecutor  # Dask only when used

        return DaskExecutor.from_settings(settings)
    builds, threads = settings.build_slots
    local = LocalExecutor(
        capacity=builds,
        threads=threads,
        memory_limit_mb=settings.build_memory_limit_mb,
        timeout_s=settings.build_timeout_s,
        search_width=settings.search_width,
    )
    return StoredBuilds(local, open_blob_store(settings))


def limits_for(settings: Settings, executor: BuildExecutor) -> Limits:
    """The scheduler's limits for `executor` under `settings`."""
    return Limits(
        concurrency=executor.capacity,
        per_account=max(1, settings.build_per_account),
        small_cells=settings.build_small_cells,
    )


class TrainerHandler:
    """Queues each accepted, not yet final build, and builds the unfinished ones of the
    partitions it is given."""

    def __init__(self, settings: Settings, executor: BuildExecutor | None = None) -> None:
        self.data_dir = settings.data_dir
        self.executor = executor if executor is not None else executor_for(settings)
        self.limits = limits_for(settings, self.executor)
        self.worker_name = f"trainer@{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._queue: BuildQueue | None = None

    def queue(self, ctx: WorkerContext) -> BuildQueue:
        """This trainer's build queue (made on first use, on the worker's loop)."""
        if self._queue is None:
            self._queue = BuildQueue(ctx, self.executor, self.limits, self.worker_name)
        return self._queue

    @property
    def builds(self) -> int:
        """Builds started by this trainer."""
        return 0 if self._queue is None else self._queue.builds_started

    async def handle(self, ctx: WorkerContext, env: Envelope, partition: int, offset: int) -> None:
        """Queue the build `env` requests, unless rejected or already built; stop the
        build an accepted cancel request names."""
        if isinstance(env.data, BuildCancelRequested):
            if await ctx.accepted(env, partition, offset):
                await self._cancel(ctx, env, env.data)
            return
        found = requested_training(env)
        if found is None or not await ctx.accepted(env, partition, offset):
            return
        model_id, req = found
        row = await ctx.pool.fetchrow(q.VERSION_BY_JOB, req.job_id)
        if row is None or row["status"] in FINAL_VERSION_STATUSES or row["artifact"] is not None:
            log.info("job %s already built or gone; duplicate delivery ignored", req.job_id)
            return
        if row["cancel_requested_at"] is not None:
            return  # its cancel request, later in the log, ends it (`_cancel`)
        job = await self._job(ctx, env, partition, model_id, req)
        if job is not None:
            self.queue(ctx).submit(job)

    async def assigned(self, ctx: WorkerContext, partitions: set[int]) -> None:
        """Queue the unfinished builds of `partitions` (now this trainer's)."""
        try:
            rows = await ctx.pool.fetch(_UNFINISHED, sorted(partitions))
        except Exception:  # the next assignment (a restart, a rebalance) looks again
            log.exception("could not look for unfinished builds of partitions %s", partitions)
            return
        for row in rows:
            env = decode(row["value"])
            found = requested_training(env)
            if found is None or found[1].job_id != row["job_id"]:
                continue
            if self._queue is not None and self._queue.holds(row["job_id"]):
                continue
            if row["cancelling"]:
                log.info("build %s was asked to stop and never did: ending it", row["job_id"])
                reason = cancel_reason(row["cancel_requested_by"], row["cancel_reason"] or "")
                cancelled = BuildCancelled(
                    job_id=row["job_id"], version=row["version"], reason=reason
                )
                await ctx.emit(env, cancelled)
                continue
            log.info("build %s was requested and never finished: building it", row["job_id"])
            job = await self._job(ctx, env, row["partition"], *found)
            if job is not None:
                self.queue(ctx).submit(job)

    async def _cancel(self, ctx: WorkerContext, env: Envelope, d: BuildCancelRequested) -> None:
        """Stop the build `d` names. One not held here (its start and end are reported
        already, or another trainer holds it) is reported cancelled at once: the fold
        has accepted the request, so any other result for it is dropped."""
        reason = cancel_reason(env.actor, d.reason)
        if await self.queue(ctx).cancel(d.job_id, reason, env):
            return
        row = await ctx.pool.fetchrow(q.VERSION_BY_JOB, d.job_id)
        if row is None or row["status"] in FINAL_VERSION_STATUSES:
            return  # redelivered after the verdict
        await ctx.emit(env, BuildCancelled(job_id=d.job_id, version=d.version, reason=reason))

    def revoked(self, partitions: set[int]) -> None:
        """Forget the queued builds of `partitions` (their new owner finds them)."""
        if self._queue is not None:
            self._queue.drop_queued(partitions)

    async def close(self) -> None:
        """Stop the running builds (they are found again by the next trainer)."""
        if self._queue is not None:
            await self._queue.close()

    async def _job(
        self,
        ctx: WorkerContext,
        env: Envelope,
        partition: int,
        model_id: str,
        req: TrainingRequest,
    ) -> Job | None:
        """The job for a request; None (after ending the build with `invalid_request`)
        when its ids cannot name files, which only a forged or corrupt event can do."""
        try:
            artifact = artifact_ref(env.account_id, model_id, req.version)
            dataset = upload_key(env.account_id, req.upload_id, req.dataset_format)
        except UnsafePath as exc:
            await ctx.emit(
                env,
                BuildFailed(
                    job_id=req.job_id, version=req.version, code="invalid_request", message=str(exc)
                ),
            )
            return None
        upload = await account_upload(ctx.pool, env.account_id, req.upload_id)
        cells = upload.rows * len(upload.columns) if upload is not None else 0
        spec = TrainingSpec(
            target=req.target,
            intent=req.intent,
            target_reason=req.target_reason,
            output_fields=req.output_fields,
            options=req.options,
            interpretation=req.interpretation,
        )
        build = BuildJob(
            job_id=req.job_id,
            dataset=dataset,
            fmt=req.dataset_format,
            artifact_dir=artifact,
            spec=spec,
            cells=cells,
        )
        return Job(
            cause=env,
            partition=partition,
            request=req,
            build=build,
            account_id=env.account_id,
            artifact=artifact,
        )
