"""Read-your-writes: wait until the projector has applied a given log position.

The projector NOTIFYs its new offsets inside the transaction that writes them,
so a notification means the rows are visible. One LISTEN connection per
process resolves every waiter; nobody polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

CHANNEL = "intentml_checkpoints"

log = logging.getLogger(__name__)


class CheckpointWatcher:
    """Tracks the projector's next offset per partition and wakes waiters."""

    def __init__(
        self, url: str, projection: str = "main", check_s: float = 1.0, timeout_s: float = 2.0
    ) -> None:
        self.url = url
        self.projection = projection
        #: How often the LISTEN connection is checked (and, when lost, opened again), and
        #: how long the check and a reconnection may take.
        self.check_s = check_s
        self.timeout_s = timeout_s
        self.next_offsets: dict[int, int] = {}
        #: Bumped on every applied batch: caches of read-model rows compare it to stay fresh.
        self.generation = 0
        self._conn: asyncpg.Connection | None = None
        self._changed = asyncio.Condition()
        self._keeping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the LISTEN connection, read the current checkpoints, and keep it open."""
        await self._connect(connect_timeout_s=30.0)  # a slow start is not an outage
        self._keeping = asyncio.create_task(self._keep_listening())

    async def _connect(self, connect_timeout_s: float | None = None) -> None:
        conn = await asyncpg.connect(
            self.url,
            timeout=connect_timeout_s or self.timeout_s,
            command_timeout=self.timeout_s,
        )
        try:
            await conn.add_listener(CHANNEL, self._on_notify)
            rows = await conn.fetch(
                "SELECT partition, next_offset FROM projection_offsets WHERE projection = $1",
                self.projection,
            )
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        for r in rows:
            self._advance(r["partition"], r["next_offset"])
        # Notifications may have been missed while no connection listened.
        self.generation += 1
        await self._wake()

    async def _keep_listening(self) -> None:
        """Check the connection every `check_s`; reopen it when it is lost or frozen (a
        connection to a frozen server stays open and hears nothing). Until then `alive`
        is False, so caches keep nothing as fresh."""
        while True:
            await asyncio.sleep(self.check_s)
            conn = self._conn
            if conn is not None and not conn.is_closed():
                try:
                    await conn.fetchval("SELECT 1", timeout=self.timeout_s)
                    continue
                except Exception as exc:
                    log.warning("checkpoint LISTEN connection lost (%r); reconnecting", exc)
                    conn.terminate()
            try:
                await self._connect()
                log.info("checkpoint LISTEN connection open again")
            except Exception as exc:
                log.debug("checkpoint LISTEN reconnection failed: %r", exc)

    async def stop(self) -> None:
        """Stop checking, and close the LISTEN connection."""
        if self._keeping is not None:
            self._keeping.cancel()
            await asyncio.gather(self._keeping, return_exceptions=True)
            self._keeping = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), self.timeout_s)
            self._conn.terminate()
            self._conn = None

    @property
    def alive(self) -> bool:
        """Whether the LISTEN connection is open."""
        return self._conn is not None and not self._conn.is_closed()

    def _advance(self, partition: int, next_offset: int) -> None:
        if next_offset > self.next_offsets.get(partition, -1):
            self.next_offsets[partition] = next_offset

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        projection, partition, next_offset = str(payload).rsplit(":", 2)
        if projection != self.projection:
            return
        self.generation += 1
        self._advance(int(partition), int(next_offset))
        asyncio.get_running_loop().create_task(self._wake())

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def passed(self, partition: int, offset: int) -> bool:
        """Whether the event at `partition`/`offset` has been applied."""
        return self.next_offsets.get(partition, 0) > offset

    async def wait(self, partition: int, offset: int, timeout_s: float) -> bool:
        """Wait until the event at `partition`/`offset` is applied; False on timeout."""

        async def _until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.passed(partition, offset))

        try:
            await asyncio.wait_for(_until(), timeout_s)
        except TimeoutError:
            return False
        return True
