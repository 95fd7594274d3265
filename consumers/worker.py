"""What every worker shares: a consumer group that acts only on accepted events.

Each partition is handled in order, one record at a time. While a partition's
records are being handled (training may take minutes) the partition is paused
and the loop keeps polling, so the group never times the worker out. Offsets
are committed to the group after handling: at-least-once, and the handlers are
idempotent (they check the read model before acting, the fold drops
duplicate results).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import asyncpg
import msgspec
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import OffsetAndMetadata

from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.envelope import Envelope, decode, make_event
from intentml.events.log import Appended, EventLog, LogUnavailable
from intentml.events.schema import UnknownSchemaVersion
from intentml.events.types import EventData
from intentml.infra.connect import new_consumer
from projections import queries as q

log = logging.getLogger(__name__)


class Handler(Protocol):
    """A worker's reaction to one event of the log."""

    async def handle(self, ctx: WorkerContext, env: Envelope, partition: int, offset: int) -> None:
        """Act on `env` (called for every event; ignore what is not yours)."""


@runtime_checkable
class PartitionOwner(Protocol):
    """A handler that holds work per partition beyond the record it handles (the
    trainer's queued builds): told which partitions it gains and loses, and to stop."""

    async def assigned(self, ctx: WorkerContext, partitions: set[int]) -> None:
        """`partitions` are now this worker's."""

    def revoked(self, partitions: set[int]) -> None:
        """`partitions` are no longer this worker's."""

    async def close(self) -> None:
        """The worker is stopping."""


class WorkerContext:
    """The handles a handler needs: the read models, the log, the projector's progress."""

    def __init__(
        self,
        name: str,
        pool: asyncpg.Pool,
        log: EventLog,
        watcher: CheckpointWatcher,
        stop: asyncio.Event,
    ) -> None:
        self.name = name
        self.pool = pool
        self.log = log
        self.watcher = watcher
        self.stop = stop

    async def accepted(self, env: Envelope, partition: int, offset: int) -> bool:
        """Wait until the projector has judged `env`; True if the fold accepted it."""
        while not await self.watcher.wait(partition, offset, 10.0):
            if self.stop.is_set():
                return False
        # By position, not by id: a re-sent copy of an accepted event is rejected, and
        # must not be acted on a second time.
        return bool(await self.pool.fetchval(q.VERDICT_AT, partition, offset))

    async def emit(self, cause: Envelope, data: EventData) -> Appended:
        """Append a follow-up event to the stream of `cause`. While the broker is down the
        worker waits for it (a build's result is kept, not thrown away and rebuilt), until
        it is told to stop."""
        event = make_event(
            data,
            account_id=cause.account_id,
            model_name=cause.model_name,
            actor=self.name,
            causation_id=cause.event_id,
            correlation_id=cause.correlation_id,
        )
        delay = 0.25
        while True:
            try:
                return await self.log.append(event)
            except LogUnavailable:
                if self.stop.is_set():
                    raise
                log.warning(
                    "the log is unavailable; %s waits %.1fs to emit %s",
                    self.name,
                    delay,
                    event.type,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)
            delay = min(delay * 2, 5.0)


class _Stopped(Exception):
    """The worker stopped while a partition waited at an event newer than its code."""


class _FinishRevoked(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        partitions = list(revoked)
        await self.worker.finish(partitions)
        if isinstance(self.worker.handler, PartitionOwner):
            self.worker.handler.revoked({tp.partition for tp in partitions})

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        # Committed group offsets are where reading resumes; an owner of longer work
        # also looks for what the partitions' previous owner left unfinished.
        if isinstance(self.worker.handler, PartitionOwner):
            partitions = {tp.partition for tp in assigned}
            if partitions:
                await self.worker.handler.assigned(self.worker.ctx, partitions)


class Worker:
    """Runs a handler over the events topic as a member of a consumer group."""

    def __init__(
        self,
        ctx: WorkerContext,
        handler: Handler,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        halt_retry_s: float = 30.0,
    ) -> None:
        self.ctx = ctx
        self.halt_retry_s = halt_retry_s
        self.handler = handler
        self.topic = topic
        self.consumer = new_consumer(bootstrap_servers, group_id)
        #: the running handler task of each paused partition, with its first offset
        self.tasks: dict[TopicPartition, tuple[asyncio.Task[None], int]] = {}

    async def _handle_records(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        for r in records:
            try:
                env = await self._decode(tp, r)
            except _Stopped:
                return  # not committed: handled again after the restart
            if env is not None:
                await self.handler.handle(self.ctx, env, tp.partition, r.offset)
            await self.consumer.commit({tp: OffsetAndMetadata(r.offset + 1, "")})

    async def _decode(self, tp: TopicPartition, r: ConsumerRecord[bytes, bytes]) -> Envelope | None:
        """The record's envelope; None for a record that cannot be decoded at all (the
        projector quarantines it, and only events it accepted are acted on). An event
        newer than this code is never skipped: the partition waits here, trying again
        every `halt_retry_s`, until the worker stops (to be upgraded)."""
        while True:
            try:
                return decode(r.value)
            except UnknownSchemaVersion as exc:
                log.error("%s waits at %s/%s: %s", self.ctx.name, tp.partition, r.offset, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ctx.stop.wait(), self.halt_retry_s)
                if self.ctx.stop.is_set():
                    raise _Stopped from exc
            except (msgspec.DecodeError, ValueError, TypeError) as exc:
                log.error("not acting on undecodable record %s/%s: %s", tp.partition, r.offset, exc)
                return None

    async def finish(self, partitions: list[TopicPartition]) -> None:
        """Let in-flight work of `partitions` finish (on revocation or shutdown)."""
        running = [self.tasks.pop(tp)[0] for tp in partitions if tp in self.tasks]
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    async def _reap(self) -> None:
        for tp, (task, first_offset) in list(self.tasks.items()):
            if not task.done():
                continue
            del self.tasks[tp]
            exc = task.exception()
            if exc is not None:
                # Retry from the first record not committed rather than skip the work.
                committed = await self.consumer.committed(tp)
                retry_at = max(first_offset, committed or 0)
                log.error("handler failed on %s at %s: %r; retrying", tp, retry_at, exc)
                self.consumer.seek(tp, retry_at)
            if tp in self.consumer.assignment():
                self.consumer.resume(tp)

    async def run(self) -> None:
        """Poll, dispatch and commit until the context's stop event is set."""
        self.consumer.subscribe([self.topic], listener=_FinishRevoked(self))
        await self.consumer.start()
        # Events a crashed appender left pending reach the log even if nobody appends
        # to their streams again.
        sweeping = asyncio.create_task(self.ctx.log.sweep(self.ctx.stop))
        try:
            while not self.ctx.stop.is_set():
                batch = await self.consumer.getmany(timeout_ms=200)
                for tp, records in batch.items():
                    if records:
                        self.consumer.pause(tp)
                        task = asyncio.create_task(self._handle_records(tp, records))
                        self.tasks[tp] = (task, records[0].offset)
                await self._reap()
            await self.finish(list(self.tasks))
        finally:
            if isinstance(self.handler, PartitionOwner):
                await self.handler.close()
            sweeping.cancel()
            await asyncio.gather(sweeping, return_exceptions=True)
            await self.consumer.stop()
