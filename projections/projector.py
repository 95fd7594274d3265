"""The main projector: the log, folded into PostgreSQL read models.

One transaction per poll batch writes the read-model rows, the fold state and
the next offset of every partition in the batch, so a crash at any point
leaves the read models exactly as if the batch never started: every event
takes effect exactly once. Offsets live in PostgreSQL, not in Kafka; on
(re)assignment the consumer seeks to them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import msgspec
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from asyncpg.pool import PoolConnectionProxy

from intentml.domain.fold import Ruling, StreamState, decode_state, encode_state, judge
from intentml.domain.text import storable, unstorable
from intentml.events.envelope import Envelope, decode, event_hash
from intentml.events.schema import UnknownSchemaVersion
from intentml.infra.connect import new_consumer
from projections import quarantine as qq
from projections import queries as q
from projections.liveness import HOLD
from projections.quarantine import quarantine_row
from projections.rows import Row, Tables, Wanted, project

log = logging.getLogger(__name__)

#: A connection, pooled or not: the apply functions work inside either's transaction.
Conn = asyncpg.Connection | PoolConnectionProxy

PROJECTION = "main"


class _SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        pass  # nothing buffered: every batch is committed before the next poll

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        # The lock keeps a seek from reading offsets that a running batch is about to move.
        async with self.projector.batch_lock:
            await self.projector.seek_to_stored(list(assigned))


async def load_rows(conn: Conn, envelopes: Iterable[Envelope]) -> Tables:
    """The stored rows that projecting `envelopes` can change, in a `Tables`."""
    wanted = Wanted()
    for env in envelopes:
        wanted.add(env)
    tables = Tables()
    if wanted.streams or wanted.model_ids:
        accounts, names = zip(*wanted.streams, strict=True) if wanted.streams else ((), ())
        for r in await conn.fetch(q.LOAD_MODELS, list(wanted.model_ids), accounts, names):
            tables.add_model(dict(r))
    if wanted.job_ids:
        for r in await conn.fetch(q.LOAD_VERSIONS, list(wanted.job_ids)):
            tables.add_version(dict(r))
    if wanted.deployment_ids or tables.models:
        deployments = await conn.fetch(
            q.LOAD_DEPLOYMENTS, list(wanted.deployment_ids), list(tables.models)
        )
        for r in deployments:
            tables.add_deployment(dict(r))
    if wanted.key_ids:
        for r in await conn.fetch(q.LOAD_API_KEYS, list(wanted.key_ids)):
            tables.add_api_key(dict(r))
    return tables


def row_tuples(tables: Tables, table: str, keys: Iterable[Any]) -> list[tuple[Any, ...]]:
    """Rows of `table` as tuples in `queries.COLUMNS` order (what asyncpg sends). A row
    dict holds its columns in that order: made so by `projections.rows` (tested), or
    loaded by a query that selects them so; updates keep a key's place."""
    held: dict[Any, Row] = getattr(tables, table)
    return [tuple(held[k].values()) for k in keys]


async def write_changes(conn: Conn, tables: Tables) -> None:
    """Store the rows `project` inserted or changed."""
    for table in q.PRIMARY_KEYS:
        keys = tables.changed[table]
        if keys:
            await conn.executemany(q.UPSERT[table], row_tuples(tables, table, keys))
    if tables.build_logs:
        columns = q.COLUMNS["build_logs"]
        await conn.copy_records_to_table("build_logs", records=tables.build_logs, columns=columns)


async def apply_events(
    conn: Conn, fresh: Sequence[tuple[int, int, bytes, Envelope]]
) -> list[Ruling]:
    """Fold `fresh` (partition, offset, stored bytes, envelope; in log order) from the
    stored fold states, project the accepted events onto the stored rows they change, and
    store rows and states. Returns the verdicts, in order."""
    # A stream whose name PostgreSQL cannot store never has an accepted event (the fold
    # rejects it), so its state is always the empty one: neither loaded nor stored.
    streams = sorted({env.stream for *_, env in fresh if not unstorable(env.stream)})
    states: dict[str, StreamState] = {
        row["stream"]: decode_state(row["state"])
        for row in await conn.fetch(q.LOAD_STATES, streams)
    }
    verdicts: list[Ruling] = []
    for _partition, _offset, value, env in fresh:
        verdict = judge(states.get(env.stream, StreamState()), env, event_hash(value))
        states[env.stream] = verdict.state
        verdicts.append(verdict)
    accepted = [e for e, v in zip(fresh, verdicts, strict=True) if v.accepted]
    tables = await load_rows(conn, (env for *_, env in accepted))
    for partition, offset, _, env in accepted:
        project(tables, env, partition, offset)
    await write_changes(conn, tables)
    await conn.executemany(q.SAVE_STATE, [(s, encode_state(states[s])) for s in streams])
    return verdicts


def archive_row(
    partition: int, offset: int, value: bytes, env: Envelope, verdict: Ruling
) -> tuple[Any, ...]:
    """An event as the archive keeps it (`queries.ARCHIVE_COLUMNS`): where it is in the
    log, its envelope's fields, its hash, the fold's verdict, and its bytes verbatim."""
    # Text columns must be storable for any event, a rejected one with a NUL too; its
    # bytes (`value`) stay verbatim, so nothing of it is lost.
    return (
        partition,
        offset,
        storable(env.event_id),
        storable(env.type),
        storable(env.account_id),
        storable(env.model_name),
        env.occurred_at,
        storable(env.actor),
        event_hash(value),
        storable(env.prev_hash),
        verdict.accepted,
        verdict.reason,
        value,
    )


class Batch(msgspec.Struct):
    """What one poll batch did: events applied, records quarantined, and the partitions
    halted at an event newer than this code (partition -> its offset)."""

    applied: int = 0
    quarantined: int = 0
    halted: dict[int, int] = msgspec.field(default_factory=dict)


def _decode_partition(
    projection: str,
    partition: int,
    records: Sequence[ConsumerRecord[bytes, bytes]],
    batch: Batch,
    quarantined: list[tuple[Any, ...]],
) -> tuple[list[tuple[int, int, bytes, Envelope]], str | None]:
    """Decode one partition's records in order: the envelopes to fold, and the reason it
    halted (at `batch.halted[partition]`), if a record is newer than this code."""
    fresh: list[tuple[int, int, bytes, Envelope]] = []
    for r in records:
        try:
            fresh.append((partition, r.offset, r.value, decode(r.value)))
        except UnknownSchemaVersion as exc:
            # Never skipped: nothing after it on this partition, until an upgrade.
            log.error("partition %s halted at offset %s: %s", partition, r.offset, exc)
            batch.halted[partition] = r.offset
            return fresh, str(exc)
        except (msgspec.DecodeError, ValueError, TypeError) as exc:
            log.error("quarantined undecodable record %s/%s: %s", partition, r.offset, exc)
            quarantined.append(quarantine_row(projection, partition, r, exc))
    return fresh, None


async def apply_batch(
    pool: asyncpg.Pool,
    records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    projection: str = PROJECTION,
) -> Batch:
    """Fold and apply one poll batch in a single transaction.

    Records below the stored offset of their partition are skipped under a row
    lock on the offsets, so a redelivery (a rebalance racing a batch, or a
    zombie projector) can never apply an event twice. A partition halts at an
    event newer than this code: its offset is stored at that event, so a newer
    projector (or this one, retrying) starts there.
    """
    partitions = sorted(tp.partition for tp, recs in records.items() if recs)
    batch = Batch()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(q.INIT_OFFSETS, projection, partitions)
        stored = {
            r["partition"]: r["next_offset"]
            for r in await conn.fetch(q.LOCK_OFFSETS, projection, partitions)
        }
        fresh: list[tuple[int, int, bytes, Envelope]] = []
        quarantined: list[tuple[Any, ...]] = []
        halts: list[tuple[str, int, int, str]] = []
        moved: list[int] = []  # partitions that got past their stored offset: not halted
        for tp, recs in records.items():
            todo = [r for r in recs if r.offset >= stored[tp.partition]]
            decoded, halt = _decode_partition(projection, tp.partition, todo, batch, quarantined)
            fresh += decoded
            if halt is not None:
                halts.append((projection, tp.partition, batch.halted[tp.partition], halt))
            elif todo:
                moved.append(tp.partition)
        verdicts = await apply_events(conn, fresh)
        archive: list[tuple[Any, ...]] = []
        for (partition, offset, value, env), verdict in zip(fresh, verdicts, strict=True):
            archive.append(archive_row(partition, offset, value, env, verdict))
            if not verdict.accepted:
                log.info("rejected %s %s: %s", env.type, env.event_id, verdict.reason)
        await conn.executemany(q.ARCHIVE_EVENT, archive)
        await conn.executemany(qq.QUARANTINE, quarantined)
        await conn.executemany(qq.SAVE_HALT, halts)
        await conn.execute(qq.CLEAR_HALTS, projection, moved)
        for tp, recs in records.items():
            if not recs:
                continue
            nxt = batch.halted.get(tp.partition, recs[-1].offset + 1)
            if nxt > stored[tp.partition]:
                await conn.execute(q.SAVE_OFFSET, projection, tp.partition, nxt)
                await conn.execute(q.NOTIFY_CHECKPOINT, f"{projection}:{tp.partition}:{nxt}")
    batch.applied = len(fresh)
    batch.quarantined = len(quarantined)
    return batch


class Projector:
    """Consumes the events topic and keeps the read models up to date."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        topic: str,
        group_id: str = "intentml-projector",
        projection: str = PROJECTION,
        max_poll_records: int = 5000,
        halt_retry_s: float = 30.0,
    ) -> None:
        self.pool = pool
        #: How often a partition halted at an event newer than this code tries it again.
        self.halt_retry_s = halt_retry_s
        #: Halted partitions (paused) and when each tries again.
        self.retry_at: dict[TopicPartition, float] = {}
        self.topic = topic
        self.projection = projection
        self.applied = 0
        self.batch_lock = asyncio.Lock()
        self.consumer = new_consumer(bootstrap_servers, group_id, max_poll_records)

    async def seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        """Position each assigned partition at the offset stored with the read models."""
        async with self.pool.acquire() as conn:
            stored = {
                r["partition"]: r["next_offset"]
                for r in await conn.fetch(q.LOAD_OFFSETS, self.projection)
            }
        for tp in partitions:
            if tp.partition in stored:
                self.consumer.seek(tp, stored[tp.partition])
            else:
                await self.consumer.seek_to_beginning(tp)

    def _halt(self, halted: dict[int, int]) -> None:
        """Hold each halted partition at its event (it is read again at the next try)."""
        retry_at = asyncio.get_running_loop().time() + self.halt_retry_s
        for partition, offset in halted.items():
            tp = TopicPartition(self.topic, partition)
            self.consumer.seek(tp, offset)
            self.consumer.pause(tp)
            self.retry_at[tp] = retry_at

    def _retry_halted(self) -> None:
        now = asyncio.get_running_loop().time()
        for tp, at in list(self.retry_at.items()):
            if now >= at:
                del self.retry_at[tp]
                if tp in self.consumer.assignment():
                    self.consumer.resume(tp)

    async def run(self, stop: asyncio.Event) -> None:
        """Apply batches until `stop` is set."""
        self.consumer.subscribe([self.topic], listener=_SeekToStoredOffsets(self))
        await self.consumer.start()
        try:
            async with self.pool.acquire() as liveness:
                await liveness.execute(HOLD)  # released with the session, even on a crash
                while not stop.is_set():
                    self._retry_halted()
                    batch = await self.consumer.getmany(timeout_ms=200)
                    if batch:
                        async with self.batch_lock:
                            done = await apply_batch(self.pool, batch, self.projection)
                        self.applied += done.applied
                        self._halt(done.halted)
        finally:
            await self.consumer.stop()
