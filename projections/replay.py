"""Rebuild read models from offset 0 while the old ones keep serving, then switch.

The events come from the archive (`events`), which the live projector writes in the
same transaction as its offsets, so it holds exactly what the live read models were
built from, in log order. They are folded (`intentml.domain.fold.decide`) from an
empty state and applied by the live projector's own `apply_event`, with its own SQL,
into empty copies of the tables in a scratch schema. Only the execution differs:
`apply_event` writes to a recorder instead of a connection, and the recorded
statements are sent in bulk (`schedule`).

Why bulk execution is safe: every row a read-model statement touches belongs to the
stream (account/model) of the event that wrote it (models, versions, deployments and
build logs by model, keys and uploads by account), so statements of different streams
commute, and only each stream's own order matters. A chunk of events therefore runs
in rounds: the first statement of every stream, then the second, ..., each round
grouped into one `executemany` per statement.

The switch: catch up with the archive until little is left, then in one transaction
lock the projector's offsets (its next batch waits), apply the tail, and move the
tables: old ones out of `public`, new ones in. The rebuild has then applied exactly
the events below the live projector's offsets, so those offsets stay as they are and
the projector continues where the rebuild ended: no gap, nothing applied twice.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg

from intentml.domain.fold import StreamState, decide, encode_state
from intentml.events.envelope import decode
from projections import queries as q
from projections import replay_queries as rq
from projections.projector import Conn, apply_event

log = logging.getLogger(__name__)

#: One recorded write: a statement and the argument rows it runs with.
Op = tuple[str, list[tuple[Any, ...]]]

#: Archive rows folded and written per transaction while building.
CHUNK = 50_000
#: Take the lock once no more than this many events arrived during the last pass.
TAIL = 5_000


class _Recorder:
    """Stands in for a connection in `apply_event`: records its writes, in order."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    async def execute(self, query: str, *args: Any) -> str:
        self.ops.append((query, [args]))
        return ""

    async def executemany(self, command: str, args: Iterable[Sequence[Any]]) -> None:
        self.ops.append((command, [tuple(a) for a in args]))


def schedule(streams: Iterable[Sequence[Op]]) -> list[list[Op]]:
    """The writes of independent streams as rounds of bulk statements.

    Round i holds the i-th write of every stream that has one, grouped by statement
    (argument rows concatenated in stream order), so each stream's writes keep their
    order and a round runs as one `executemany` per statement.
    """
    rounds: list[dict[str, list[tuple[Any, ...]]]] = []
    for ops in streams:
        for i, (sql, rows) in enumerate(ops):
            if i == len(rounds):
                rounds.append({})
            rounds[i].setdefault(sql, []).extend(rows)
    return [list(r.items()) for r in rounds]


@dataclass
class Progress:
    """How far a rebuild is: events read and applied, and since when."""

    started: float = field(default_factory=time.perf_counter)
    events: int = 0
    applied: int = 0
    #: Statement executions sent (rows of the bulk statements): what the time goes to.
    statements: int = 0
    #: Events whose verdict now differs from the one archived (a changed fold).
    verdicts_changed: int = 0

    @property
    def seconds(self) -> float:
        """Seconds since the rebuild started."""
        return time.perf_counter() - self.started

    @property
    def rate(self) -> float:
        """Events per second so far."""
        return self.events / max(self.seconds, 1e-9)


@dataclass
class Result:
    """What a rebuild did."""

    tables: tuple[str, ...]
    progress: Progress
    rows: dict[str, int]


class _Build:
    """The state of one rebuild: fold states, position per partition, the writer."""

    def __init__(
        self,
        reader: asyncpg.Connection,
        writer: asyncpg.Connection,
        progress: Progress,
        report: Callable[[Progress], None],
        chunk: int,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.progress = progress
        self.report = report
        self.chunk = chunk
        self.states: dict[str, StreamState] = {}
        self.positions: dict[int, int] = {}

    def _position_args(self) -> tuple[list[int], list[int]]:
        parts = sorted(self.positions)
        return parts, [self.positions[p] for p in parts]

    async def pending(self) -> int:
        """Events archived past the rebuild's position."""
        n = await self.reader.fetchval(rq.COUNT_FROM, *self._position_args())
        return int(n)

    async def catch_up(self) -> None:
        """Fold and apply every archived event past the position, chunk by chunk."""
        chunk: list[asyncpg.Record] = []
        async with self.reader.transaction(readonly=True):
            cursor = self.reader.cursor(rq.ARCHIVE_FROM, *self._position_args(), prefetch=5000)
            async for row in cursor:
                chunk.append(row)
                if len(chunk) >= self.chunk:
                    await self._apply(chunk)
                    chunk = []
        if chunk:
            await self._apply(chunk)

    async def _apply(self, rows: list[asyncpg.Record]) -> None:
        streams: dict[str, list[Op]] = {}
        recorder = _Recorder()
        touched: set[str] = set()
        for partition, offset, accepted, value in rows:
            env = decode(value)
            verdict = decide(self.states.get(env.stream, StreamState()), env)
            self.states[env.stream] = verdict.state
            touched.add(env.stream)
            if verdict.accepted != accepted:
                self.progress.verdicts_changed += 1
            if verdict.accepted:
                recorder.ops = streams.setdefault(env.stream, [])
                await apply_event(cast(Conn, recorder), env, partition, offset)
                self.progress.applied += 1
        async with self.writer.transaction():
            for step in schedule(streams.values()):
                for sql, args in step:
                    await self.writer.executemany(sql, args)
                    self.progress.statements += len(args)
            await self.writer.executemany(
                q.SAVE_STATE, [(s, encode_state(self.states[s])) for s in sorted(touched)]
            )
        for partition, offset, *_ in rows:
            self.positions[partition] = offset + 1
        self.progress.events += len(rows)
        self.report(self.progress)


def _index_key(definition: str) -> str:
    """An index definition without its name and schema, to match a copy to its original."""
    return re.sub(r"INDEX \S+ ON \S+\.", "INDEX ON ", definition)


_INDEXES = """
SELECT i.relname AS name, pg_get_indexdef(i.oid) AS definition
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = $1 AND t.relname = $2
"""


async def _name_indexes_like_live(conn: asyncpg.Connection, schema: str, table: str) -> None:
    """`LIKE ... INCLUDING ALL` names copied indexes itself; give them the live names, so
    the switched tables look exactly like migrated ones (later migrations name them)."""
    live = {
        _index_key(r["definition"]): r["name"] for r in await conn.fetch(_INDEXES, "public", table)
    }
    for r in await conn.fetch(_INDEXES, schema, table):
        wanted = live.get(_index_key(r["definition"]))
        if wanted and wanted != r["name"]:
            await conn.execute(f'ALTER INDEX "{schema}"."{r["name"]}" RENAME TO "{wanted}"')


async def rebuild(
    url: str,
    projections: Sequence[str] | None = None,
    *,
    report: Callable[[Progress], None] = lambda _p: None,
    before_switch: Callable[[], Awaitable[None]] | None = None,
    chunk: int = CHUNK,
) -> Result:
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
            await conn.set_type_codec(
                "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
            )
        # Every table apply_event writes goes to the scratch schema, also those not switched:
        # nothing of a rebuild may reach a live table before the switch.
        await writer.execute(rq.create_schema(scratch))
        for table in rq.TABLES:
            await writer.execute(rq.create_like(scratch, table))
            await _name_indexes_like_live(writer, scratch, table)
        foreign_keys = await writer.fetch(rq.FOREIGN_KEYS, list(rq.TABLES))
        await writer.execute(f'SET search_path TO "{scratch}"')
        build = _Build(reader, writer, Progress(), report, chunk)
        await build.catch_up()
        while await build.pending() > TAIL:
            await build.catch_up()
        # After the load: checking each row against an index costs less than per insert.
        for fk in foreign_keys:
            await writer.execute(
                rq.add_foreign_key(scratch, fk["table"], fk["name"], fk["definition"])
            )
        if before_switch is not None:
            await before_switch()
        async with writer.transaction():
            await writer.execute(rq.LOCK_PROJECTOR)
            await build.catch_up()
            await writer.execute(rq.create_schema(retired))
            for table in switched:
                await writer.execute(rq.move(table, "public", retired))
                await writer.execute(rq.move(table, scratch, "public"))
        rows = {t: int(await writer.fetchval(rq.count_rows("public", t))) for t in switched}
        return Result(switched, build.progress, rows)
    finally:
        try:
            await writer.execute("RESET search_path")
            await writer.execute(rq.drop_schema(retired))
            await writer.execute(rq.drop_schema(scratch))
        finally:
            await writer.close()
            await reader.close()
