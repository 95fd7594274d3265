"""What `/health` reports, probed so that it answers in time whatever is down.

- The database is probed on a new connection each time, not a pooled one: with only
  the postmaster frozen the pooled connections still answer while nothing can connect
  (a restarted worker, a growing pool); and requests holding every pooled connection
  (writes waiting for a frozen broker) must not make the database look down.
- Each probe runs in a task of its own, at most one at a time per part: concurrent
  calls share it (so a flood of `/health` costs a connection per round, not per call;
  `reuse_s` can also keep a result for a while, 0 by default so a change shows at once).
- A caller waits for the probes up to `wait_s`, then reports what did not answer as
  down and leaves the probe to finish on its own (bounded by its connect and statement
  timeouts). Awaiting a cancelled probe instead (`asyncio.wait_for`) waits for the
  cancellation of its statement, which needs a round trip to the frozen server: that
  is why the old check's 2 s timeout never fired.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
from aiokafka import AIOKafkaProducer

from projections.projector import PROJECTION
from projections.read_models.health import DatabaseState, database_state

__all__ = ["DatabaseState", "Liveness", "Observed"]


class Observed(msgspec.Struct, frozen=True):
    """The parts as last probed: None where a part did not answer in time."""

    database: DatabaseState | None
    kafka: bool


class _Probe:
    """One part's probe: single-flight, its result reused for `reuse_s`."""

    def __init__(self, run: Callable[[], Awaitable[Any]], reuse_s: float) -> None:
        self.run = run
        self.reuse_s = reuse_s
        self.task: asyncio.Task[Any] | None = None
        self.finished_at = -float("inf")

    def start(self) -> asyncio.Task[Any]:
        fresh = time.monotonic() - self.finished_at < self.reuse_s
        if self.task is None or (self.task.done() and not fresh):
            self.task = asyncio.ensure_future(self.run())
            self.task.add_done_callback(self._finished)
        return self.task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.finished_at = time.monotonic()
        if not task.cancelled():
            task.exception()  # retrieved: a failed probe means "down", not a log line

    @staticmethod
    def result(task: asyncio.Task[Any]) -> Any:
        if not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()


class Liveness:
    """The probes of one API process."""

    def __init__(
        self,
        database_url: str,
        producer: AIOKafkaProducer,
        wait_s: float = 1.5,
        reuse_s: float = 0.0,
    ) -> None:
        self.database_url = database_url
        self.producer = producer
        self.wait_s = wait_s
        self._database = _Probe(self._probe_database, reuse_s)
        self._kafka = _Probe(self._probe_kafka, reuse_s)

    async def _probe_database(self) -> DatabaseState:
        conn = await asyncpg.connect(
            self.database_url, timeout=self.wait_s, command_timeout=self.wait_s
        )
        try:
            return await database_state(conn, PROJECTION)
        finally:
            conn.terminate()  # a goodbye could wait for a server that froze meanwhile

    async def _probe_kafka(self) -> bool:
        return bool(await self.producer.client.force_metadata_update())

    async def observe(self) -> Observed:
        """Each part's state, within `wait_s`."""
        database, kafka = self._database.start(), self._kafka.start()
        await asyncio.wait({database, kafka}, timeout=self.wait_s)
        return Observed(_Probe.result(database), bool(_Probe.result(kafka)))
