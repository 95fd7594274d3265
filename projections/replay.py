"""Rebuild read models from offset 0 while the old ones keep serving, then switch.

The events come from the archive (`events`), which the live projector writes in the
same transaction as its offsets, so it holds exactly what the live read models were
built from, in log order. They are folded (`intentml.domain.fold.judge`) from an
empty state and projected by the live projector's own `projections.rows.project`.
Only where the rows live differs: a rebuild holds every row in memory and writes each
one once with COPY into key-less tables of a scratch schema, then builds keys and
indexes, because a statement per event (about three per event) caps a rebuild at the
rate PostgreSQL runs statements, a tenth of what COPY takes.

The switch: catch up with the archive until little is left, write the rows, then
apply what arrived meanwhile as the live projector does (`apply_events`: load the rows
the events change, project, write back). Last, in one transaction: lock the
projector's offsets (its next batch waits), apply the tail, and move the tables: old
ones out of `public`, new ones in. The rebuild has then applied exactly the events
below the live projector's offsets, so those offsets stay as they are and the
projector continues where the rebuild ended: no gap, nothing applied twice.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from intentml.domain.fold import StreamState, encode_state, judge
from intentml.domain.text import unstorable
from intentml.events.envelope import decode, event_hash
from intentml.infra.db import init_connection
from projections import queries as q
from projections import replay_queries as rq
from projections.projector import apply_events, row_tuples
from projections.rows import Tables, project

log = logging.getLogger(__name__)

#: Archive rows read ahead, and build-log rows written per COPY.
CHUNK = 50_000
#: Events folded between turns of the event loop (for the reader's and the COPY's I/O).
SLICE = 250
#: Take the lock once no more than this many events arrived during the last pass.
TAIL = 5_000


@dataclass
class RebuildProgress:
    """How far a rebuild is: events read and applied, and since when."""

    started: float = field(default_factory=time.perf_counter)
    events: int = 0
    applied: int = 0
    #: Read-model rows written with COPY (not the tail's few upserts).
    rows: int = 0
    #: Events whose verdict now differs from the one archived (a changed fold).
    verdicts_changed: int = 0
    #: When the rebuild switched (None while it runs).
    ended: float | None = None

    @property
    def seconds(self) -> float:
        """Seconds since the rebuild started, until it switched."""
        return (self.ended or time.perf_counter()) - self.started

    @property
    def rate(self) -> float:
        """Events per second so far."""
        return self.events / max(self.seconds, 1e-9)


@dataclass
class RebuildResult:
    """What a rebuild did."""

    tables: tuple[str, ...]
    progress: RebuildProgress
    rows: dict[str, int]


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The rebuild holds millions of objects that only grow: cyclic garbage collection
    would walk them all again and again for nothing (nothing here makes cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Build:
    """The state of one rebuild: rows and fold states, position per partition."""

    def __init__(
        self,
        reader: asyncpg.Connection,
        writer: asyncpg.Connection,
        progress: RebuildProgress,
        report: Callable[[RebuildProgress], None],
        chunk: int,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.progress = progress
        self.report = report
        self.chunk = chunk
        self.tables = Tables(track_changes=False)
        self.states: dict[str, StreamState] = {}
        self.positions: dict[int, int] = {}
        self._copying: asyncio.Task[None] | None = None

    async def _partitions(self) -> list[int]:
        archived = {r["partition"] for r in await self.reader.fetch(rq.ARCHIVED_PARTITIONS)}
        return sorted(archived | self.positions.keys())

    async def pending(self) -> int:
        """Events archived past the rebuild's position."""
        partitions = await self._partitions()
        offsets = [self.positions.get(p, 0) for p in partitions]
        return int(await self.reader.fetchval(rq.COUNT_FROM, partitions, offsets))

    async def _chunks(self) -> AsyncIterator[list[asyncpg.Record]]:
        """The archive past the position, `FETCH_ROWS` rows at a time. Up to `chunk` more
        rows are read meanwhile (the reader has its own connection)."""
        ahead = max(1, self.chunk // rq.FETCH_ROWS)
        # Chunks, then [] at the end; or the reader's error, raised here.
        ready: asyncio.Queue[list[asyncpg.Record] | Exception] = asyncio.Queue(ahead)

        async def read() -> None:
            try:
                # One snapshot for all partitions (REPEATABLE READ): a pass ends at one point.
                async with self.reader.transaction(isolation="repeatable_read", readonly=True):
                    for partition in await self._partitions():
                        start = self.positions.get(partition, 0)
                        await self.reader.execute(rq.DECLARE_ARCHIVE_CURSOR, partition, start)
                        while rows := await self.reader.fetch(rq.FETCH_ARCHIVE):
                            await ready.put(rows)
                        await self.reader.execute(rq.CLOSE_ARCHIVE_CURSOR)
                await ready.put([])
            except Exception as exc:  # handed over: the consumer raises it
                await ready.put(exc)

        reading = asyncio.create_task(read())
        try:
            while rows := await ready.get():
                if isinstance(rows, Exception):
                    raise rows
                yield rows
        finally:
            reading.cancel()  # a no-op once it is done; else the consumer stopped early

    def _advance(self, rows: Sequence[asyncpg.Record]) -> None:
        for partition, offset, *_ in rows:
            self.positions[partition] = offset + 1
        self.progress.events += len(rows)
        self.report(self.progress)

    async def load_in_memory(self) -> None:
        """Fold and project every archived event past the position into memory. Build
        logs (most of the rows, never changed) go out by COPY, `chunk` rows at a time,
        each COPY running while the next events are folded."""
        with _no_cycle_collection():
            async for rows in self._chunks():
                for start in range(0, len(rows), SLICE):
                    self._fold(rows[start : start + SLICE])
                    # Let the reader and the COPY move on: their servers work meanwhile.
                    await asyncio.sleep(0)
                if len(self.tables.build_logs) >= self.chunk:
                    await self._copy_build_logs()
                self._advance(rows)
            await self._copy_build_logs()
        await self._wait_for_copy()

    def _fold(self, rows: Sequence[asyncpg.Record]) -> None:
        for partition, offset, accepted, value in rows:
            env = decode(value)
            verdict = judge(self.states.get(env.stream, StreamState()), env, event_hash(value))
            self.states[env.stream] = verdict.state
            if verdict.accepted != accepted:
                self.progress.verdicts_changed += 1
            if verdict.accepted:
                project(self.tables, env, partition, offset)
                self.progress.applied += 1

    async def _wait_for_copy(self) -> None:
        if self._copying is not None:
            await self._copying
            self._copying = None

    async def _copy_build_logs(self) -> None:
        await self._wait_for_copy()
        rows, self.tables.build_logs = self.tables.build_logs, []
        if rows:
            self.progress.rows += len(rows)
            self._copying = asyncio.create_task(self._copy("build_logs", rows))

    async def _copy(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        await self.writer.copy_records_to_table(table, records=rows, columns=q.COLUMNS[table])

    async def write_memory(self) -> None:
        """COPY every row held in memory, and the fold states, into the scratch tables."""
        await self._wait_for_copy()
        for table in q.PRIMARY_KEYS:
            rows = row_tuples(self.tables, table, getattr(self.tables, table))
            await self._copy(table, rows)
            self.progress.rows += len(rows)
        # Like the live projector: a stream PostgreSQL cannot name has only rejected events.
        states = [(s, encode_state(st)) for s, st in self.states.items() if not unstorable(s)]
        await self.writer.copy_records_to_table(
            "aggregates", records=states, columns=("stream", "state")
        )
        self.tables = Tables()  # from here on, the tables in PostgreSQL are the truth

    async def catch_up_in_db(self) -> None:
        """Apply every archived event past the position the way the live projector does:
        load the rows they change, project, write back (for the few events of the tail)."""
        async for rows in self._chunks():
            fresh = [
                (partition, offset, value, decode(value)) for partition, offset, _, value in rows
            ]
            async with self.writer.transaction():
                verdicts = await apply_events(self.writer, fresh)
            for row, verdict in zip(rows, verdicts, strict=True):
                if verdict.accepted != row["accepted"]:
                    self.progress.verdicts_changed += 1
                self.progress.applied += verdict.accepted
            self._advance(rows)


async def _index(
    conn: asyncpg.Connection, scratch: str, definitions: Iterable[asyncpg.Record]
) -> None:
    """Give scratch copies the keys, foreign keys or indexes of the live tables, by the
    same names (`definitions` from `CONSTRAINTS`, keys first, or `INDEXES`)."""
    for d in definitions:
        if d["kind"] == "index":
            await conn.execute(rq.in_schema(d["definition"], scratch))
        else:
            await conn.execute(rq.add_constraint(scratch, d["table"], d["name"], d["definition"]))


def _when_built(definitions: Iterable[asyncpg.Record]) -> dict[str, list[asyncpg.Record]]:
    """Keys and indexes by when a rebuild makes them: "load" (before the load, kept up as
    rows arrive), "logs" (the remaining build-log indexes, after the load) and "end"."""
    phases: dict[str, list[asyncpg.Record]] = {"load": [], "logs": [], "end": []}
    for d in definitions:
        if d["table"] != rq.STREAMED:
            phases["end"].append(d)
        elif d["name"] in rq.SORTED_AFTER_LOAD:
            phases["logs"].append(d)
        else:
            phases["load"].append(d)
    return phases


async def rebuild(
    url: str,
    projections: Sequence[str] | None = None,
    *,
    report: Callable[[RebuildProgress], None] = lambda _p: None,
    before_switch: Callable[[], Awaitable[None]] | None = None,
    chunk: int = CHUNK,
) -> RebuildResult:
    """Rebuild the named projections (all when None) from offset 0 and switch to them.

    The API keeps reading the old tables until the switch, which is one short
    transaction; `before_switch` runs after catching up, before the lock (tests use it
    to append events that then arrive in the tail).
    """
    names = list(projections or rq.PROJECTIONS)
    unknown = [n for n in names if n not in rq.PROJECTIONS]
    if unknown:
        raise ValueError(f"unknown projection {unknown[0]!r}; one of {', '.join(rq.PROJECTIONS)}")
    switched = tuple(t for n in names for t in rq.PROJECTIONS[n])
    scratch = "replay_" + uuid.uuid4().hex[:12]
    retired = scratch + "_old"
    reader: asyncpg.Connection = await asyncpg.connect(url)
    writer: asyncpg.Connection = await asyncpg.connect(url)
    try:
        for conn in (reader, writer):
            await init_connection(conn)
        # Every table the projection writes goes to the scratch schema, also those not
        # switched: nothing of a rebuild may reach a live table before the switch.
        await writer.execute(rq.create_schema(scratch))
        for table in rq.TABLES:
            await writer.execute(rq.create_like(scratch, table))
        keys = await writer.fetch(rq.CONSTRAINTS, list(rq.TABLES))
        built = _when_built([*keys, *await writer.fetch(rq.INDEXES, list(rq.TABLES))])
        await writer.execute(f'SET search_path TO "{scratch}"')
        for conn in (reader, writer):
            await conn.execute(rq.INDEX_MEMORY)
        await _index(writer, scratch, built["load"])
        build = _Build(reader, writer, RebuildProgress(), report, chunk)
        await build.load_in_memory()
        while await build.pending() > TAIL:
            await build.load_in_memory()
        # The writer writes the other tables while the reader sorts the build logs' last
        # indexes; then the other tables get theirs.
        logs_indexed = asyncio.create_task(_index(reader, scratch, built["logs"]))
        try:
            await build.write_memory()
        finally:
            await logs_indexed
        await _index(writer, scratch, built["end"])
        await build.catch_up_in_db()
        if before_switch is not None:
            await before_switch()
        async with writer.transaction():
            await writer.execute(rq.LOCK_PROJECTOR)
            await build.catch_up_in_db()
            await writer.execute(rq.create_schema(retired))
            for table in switched:
                await writer.execute(rq.move(table, "public", retired))
                await writer.execute(rq.move(table, scratch, "public"))
        build.progress.ended = time.perf_counter()
        rows = {t: int(await writer.fetchval(rq.count_rows("public", t))) for t in switched}
        return RebuildResult(switched, build.progress, rows)
    finally:
        try:
            await writer.execute("RESET search_path")
            await writer.execute(rq.drop_schema(retired))
            await writer.execute(rq.drop_schema(scratch))
        finally:
            await writer.close()
            await reader.close()
