"""A trainer's builds: queued, started in the scheduler's order on its executor, and
reported as events.

The trainer's consumer only puts a build here and moves on, so a partition is never
held for the length of a build. Which build starts next is `intentml.domain.scheduling`'s
rule; `BuildStarted` is emitted when a build gets its slot (BUILDING means running), and
until then its version is PENDING with the queue position this module writes to the
`build_queue` table. Every build ends in exactly one event: `VersionTrained`,
`BuildFailed` or (on request) `BuildCancelled`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import assert_never

import msgspec

from consumers.worker import WorkerContext
from intentml.domain.scheduling import Limits, QueuedBuild, RunningBuild, pick, start_order
from intentml.events.envelope import Envelope, new_id
from intentml.events.types import (
    BuildCancelled,
    BuildFailed,
    BuildProgressed,
    BuildStarted,
    TrainingRequest,
    VersionTrained,
)
from intentml.infra.builds import (
    BuildExecutor,
    BuildJob,
    BuildOutcome,
    Cancelled,
    Failed,
    Trained,
)

log = logging.getLogger(__name__)

_REPLACE_MINE = "DELETE FROM build_queue WHERE trainer = $1"
_INSERT = "INSERT INTO build_queue (job_id, trainer, position, reason) VALUES ($1, $2, $3, $4)"


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """A build as the trainer holds it: the request, the event that asked for it (the
    follow-up events join its stream), and the executor's job."""

    cause: Envelope
    partition: int
    request: TrainingRequest
    build: BuildJob
    account_id: str
    #: The artifact's reference (relative to the data dir), as `VersionTrained` carries it.
    artifact: str


class BuildQueue:
    """The builds of one trainer process (see the module's docstring)."""

    def __init__(
        self, ctx: WorkerContext, executor: BuildExecutor, limits: Limits, trainer: str
    ) -> None:
        self.ctx = ctx
        self.executor = executor
        self.limits = limits
        self.trainer = trainer
        self._seq = itertools.count()
        self._queued: dict[str, tuple[QueuedBuild, Job]] = {}
        self._running: dict[str, tuple[RunningBuild, asyncio.Task[None]]] = {}
        #: Running builds asked to stop, with the reason their `BuildCancelled` gives.
        self._cancelling: dict[str, str] = {}
        self._closing = False
        self._published = asyncio.Event()
        self._publisher = asyncio.create_task(self._publish_positions())
        self.builds_started = 0

    def holds(self, job_id: str) -> bool:
        """Whether the build is queued or running here."""
        return job_id in self._queued or job_id in self._running

    def submit(self, job: Job) -> None:
        """Queue a build (a second copy of one held here is a redelivery: dropped)."""
        job_id = job.request.job_id
        if self.holds(job_id):
            log.info("build %s is already queued or running here", job_id)
            return
        queued = QueuedBuild(
            job_id=job_id, account_id=job.account_id, cells=job.build.cells, seq=next(self._seq)
        )
        self._queued[job_id] = (queued, job)
        self._dispatch()

    async def cancel(self, job_id: str, reason: str, cause: Envelope) -> bool:
        """Stop a build on request: a queued one leaves the queue and is reported
        `BuildCancelled` at once (with `cause`, the request, as its cause); a running one
        is stopped on the executor, and its `_run` reports it. False if it is not here."""
        if job_id in self._queued:
            _, job = self._queued.pop(job_id)
            self._changed()
            req = job.request
            await self.ctx.emit(
                cause, BuildCancelled(job_id=job_id, version=req.version, reason=reason)
            )
            return True
        if job_id in self._running:
            # Marked first: the build may not have reached the executor yet (its start is
            # being reported), or may finish right now; either way it ends as cancelled.
            self._cancelling[job_id] = reason
            self.executor.cancel(job_id, reason)
            return True
        return False

    def drop_queued(self, partitions: set[int]) -> None:
        """Forget the queued (not running) builds of partitions this trainer no longer
        owns: their new owner finds them again."""
        for job_id, (_, job) in list(self._queued.items()):
            if job.partition in partitions:
                del self._queued[job_id]
        self._changed()

    async def close(self) -> None:
        """Stop the running builds, unreported: their versions stay unfinished, and the
        trainer that gets their partitions next builds them again."""
        self._closing = True
        self._queued.clear()
        await self.executor.close()
        tasks = [task for _, task in self._running.values()]
        await asyncio.gather(*tasks, return_exceptions=True)
        self._publisher.cancel()
        await asyncio.gather(self._publisher, return_exceptions=True)

    def _dispatch(self) -> None:
        while True:
            running = [slot for slot, _ in self._running.values()]
            chosen = pick([q for q, _ in self._queued.values()], running, self.limits)
            if chosen is None:
                break
            _, job = self._queued.pop(chosen.job_id)
            slot = RunningBuild(
                job_id=chosen.job_id, account_id=chosen.account_id, cells=chosen.cells
            )
            task = asyncio.create_task(self._run(job), name=f"build {chosen.job_id}")
            self._running[chosen.job_id] = (slot, task)
        self._changed()

    def _changed(self) -> None:
        self._published.set()

    async def _run(self, job: Job) -> None:
        req = job.request
        try:
            attempt = new_id()
            await self.ctx.emit(
                job.cause,
                BuildStarted(
                    job_id=req.job_id, version=req.version, worker=self.trainer, attempt_id=attempt
                ),
            )
            self.builds_started += 1
            progress = _ProgressPublisher(self.ctx, job.cause, req, attempt)
            try:
                outcome = await self._outcome(job, progress)
            finally:
                await progress.close()
            if not self._closing:
                await self.ctx.emit(job.cause, _ending(job, outcome))
        except Exception:  # the log is gone for good (the worker stops): found again later
            log.exception("build %s could not be reported", req.job_id)
        finally:
            self._running.pop(req.job_id, None)
            self._cancelling.pop(req.job_id, None)
            if not self._closing:
                self._dispatch()

    async def _outcome(self, job: Job, progress: _ProgressPublisher) -> BuildOutcome:
        """Run the build; a build asked to stop meanwhile ends `Cancelled`, whatever its
        executor says (the fold drops any other result once the cancel is accepted)."""
        job_id = job.request.job_id
        if job_id in self._cancelling:
            return Cancelled(self._cancelling[job_id])

        def line(percent: int, message: str) -> None:
            progress.line(percent, message)
            if job_id in self._cancelling:  # asked before its process was known: again
                self.executor.cancel(job_id, self._cancelling[job_id])

        outcome = await self.executor.run(job.build, line)
        if job_id in self._cancelling:
            return Cancelled(self._cancelling[job_id])
        return outcome

    async def _publish_positions(self) -> None:
        """Write where each queued build stands, whenever the queue changes."""
        while True:
            await self._published.wait()
            self._published.clear()
            running = [slot for slot, _ in self._running.values()]
            order = start_order([q for q, _ in self._queued.values()], running, self.limits)
            try:
                async with self.ctx.pool.acquire() as conn, conn.transaction():
                    await conn.execute(_REPLACE_MINE, self.trainer)
                    await conn.executemany(
                        _INSERT, [(w.job_id, self.trainer, w.position, w.reason) for w in order]
                    )
            except Exception:  # positions are advice; the next change writes them again
                log.exception("could not write the build queue's positions")


def cancel_reason(actor: str, reason: str) -> str:
    """What a cancelled build's `BuildCancelled` says: who asked, and why if they said."""
    return f"cancelled by {actor}: {reason}" if reason else f"cancelled by {actor}"


def _ending(job: Job, outcome: BuildOutcome) -> VersionTrained | BuildFailed | BuildCancelled:
    """The event that ends a build."""
    req = job.request
    match outcome:
        case Trained():
            return VersionTrained(
                job_id=req.job_id, version=req.version, artifact=job.artifact, result=outcome.result
            )
        case Failed():
            return BuildFailed(
                job_id=req.job_id, version=req.version, code=outcome.code, message=outcome.message
            )
        case Cancelled():
            return BuildCancelled(job_id=req.job_id, version=req.version, reason=outcome.reason)
        case _:
            assert_never(outcome)


class _ProgressPublisher:
    """Turns a build's progress lines into `BuildProgressed` events, in order."""

    def __init__(
        self, ctx: WorkerContext, cause: Envelope, req: TrainingRequest, attempt: str
    ) -> None:
        self.queue: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._publish(ctx, cause, req, attempt))

    def line(self, percent: int, message: str) -> None:
        """The executor's progress callback (on the event loop)."""
        self.queue.put_nowait((percent, message))

    async def close(self) -> None:
        """Publish what is queued, then stop."""
        self.queue.put_nowait(None)
        await self.task

    async def _publish(
        self, ctx: WorkerContext, cause: Envelope, req: TrainingRequest, attempt: str
    ) -> None:
        while (item := await self.queue.get()) is not None:
            # build_progress 5..90 while training; the serving check takes it to 100
            pct = 5 + int(item[0] * 0.85)
            await ctx.emit(
                cause,
                BuildProgressed(
                    job_id=req.job_id,
                    version=req.version,
                    progress=pct,
                    lines=[item[1]],
                    attempt_id=attempt,
                ),
            )
