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
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from asyncpg.pool import PoolConnectionProxy

from intentml.domain.fold import Decision, StreamState, decode_state, encode_state, judge
from intentml.events.envelope import Envelope, decode, event_hash
from projections import queries as q
from projections.liveness import HOLD
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
) -> list[Decision]:
    """Fold `fresh` (partition, offset, stored bytes, envelope; in log order) from the
    stored fold states, project the accepted events onto the stored rows they change, and
    store rows and states. Returns the verdicts, in order."""
    streams = sorted({env.stream for *_, env in fresh})
    states: dict[str, StreamState] = {
        row["stream"]: decode_state(row["state"])
        for row in await conn.fetch(q.LOAD_STATES, streams)
    }
    verdicts: list[Decision] = []
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
    partition: int, offset: int, value: bytes, env: Envelope, verdict: Decision
) -> tuple[Any, ...]:
    """An event as the archive keeps it (`queries.ARCHIVE_COLUMNS`): where it is in the
    log, its envelope's fields, its hash, the fold's verdict, and its bytes verbatim."""
    return (
        partition,
        offset,
        env.event_id,
        env.type,
        env.account_id,
        env.model_name,
        env.occurred_at,
        env.actor,
        event_hash(value),
        env.prev_hash,
        verdict.accepted,
        verdict.reason,
        value,
    )


async def apply_batch(
    pool: asyncpg.Pool,
    records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    projection: str = PROJECTION,
) -> int:
    """Fold and apply one poll batch in a single transaction; returns events applied.

    Records below the stored offset of their partition are skipped under a row
    lock on the offsets, so a redelivery (a rebalance racing a batch, or a
    zombie projector) can never apply an event twice.
    """
    partitions = sorted(tp.partition for tp, recs in records.items() if recs)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(q.INIT_OFFSETS, projection, partitions)
        stored = {
            r["partition"]: r["next_offset"]
            for r in await conn.fetch(q.LOCK_OFFSETS, projection, partitions)
        }
        fresh: list[tuple[int, int, bytes, Envelope]] = []
        for tp, recs in records.items():
            for r in recs:
                if r.offset < stored[tp.partition]:
                    continue
                try:
                    fresh.append((tp.partition, r.offset, r.value, decode(r.value)))
                except Exception as exc:  # a foreign or corrupt record must not stop the log
                    log.error("skipping undecodable record %s/%s: %s", tp.partition, r.offset, exc)
        verdicts = await apply_events(conn, fresh)
        archive: list[tuple[Any, ...]] = []
        for (partition, offset, value, env), verdict in zip(fresh, verdicts, strict=True):
            archive.append(archive_row(partition, offset, value, env, verdict))
            if not verdict.accepted:
                log.info("rejected %s %s: %s", env.type, env.event_id, verdict.reason)
        await conn.executemany(q.ARCHIVE_EVENT, archive)
        for tp, recs in records.items():
            if recs and recs[-1].offset + 1 > stored[tp.partition]:
                nxt = recs[-1].offset + 1
                await conn.execute(q.SAVE_OFFSET, projection, tp.partition, nxt)
                await conn.execute(q.NOTIFY_CHECKPOINT, f"{projection}:{tp.partition}:{nxt}")
    return len(fresh)


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
    ) -> None:
        self.pool = pool
        self.topic = topic
        self.projection = projection
        self.applied = 0
        self.batch_lock = asyncio.Lock()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
            max_poll_records=max_poll_records,
        )

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

    async def run(self, stop: asyncio.Event) -> None:
        """Apply batches until `stop` is set."""
        self.consumer.subscribe([self.topic], listener=_SeekToStoredOffsets(self))
        await self.consumer.start()
        try:
            async with self.pool.acquire() as liveness:
                await liveness.execute(HOLD)  # released with the session, even on a crash
                while not stop.is_set():
                    batch = await self.consumer.getmany(timeout_ms=200)
                    if batch:
                        async with self.batch_lock:
                            self.applied += await apply_batch(self.pool, batch, self.projection)
        finally:
            await self.consumer.stop()
