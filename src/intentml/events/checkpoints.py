"""Read-your-writes: wait until the projector has applied a given log position.

The projector NOTIFYs its new offsets inside the transaction that writes them,
so a notification means the rows are visible. One LISTEN connection per
process resolves every waiter; nobody polls.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

CHANNEL = "intentml_checkpoints"


class CheckpointWatcher:
    """Tracks the projector's next offset per partition and wakes waiters."""

    def __init__(self, url: str, projection: str = "main") -> None:
        self.url = url
        self.projection = projection
        self.next_offsets: dict[int, int] = {}
        #: Bumped on every applied batch: caches of read-model rows compare it to stay fresh.
        self.generation = 0
        self._conn: asyncpg.Connection | None = None
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        """Open the LISTEN connection, then read the current checkpoints."""
        self._conn = await asyncpg.connect(self.url)
        await self._conn.add_listener(CHANNEL, self._on_notify)
        rows = await self._conn.fetch(
            "SELECT partition, next_offset FROM projection_offsets WHERE projection = $1",
            self.projection,
        )
        for r in rows:
            self._advance(r["partition"], r["next_offset"])

    async def stop(self) -> None:
        """Close the LISTEN connection."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
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
