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
from collections.abc import Iterable
from typing import Any

import asyncpg
import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from asyncpg.pool import PoolConnectionProxy

from intentml.domain.fold import StreamState, decide, decode_state, encode_state
from intentml.events.envelope import Envelope, decode, event_hash
from intentml.events.types import (
    AccountCreated,
    ApiKeyIssued,
    ApiKeyLimitsChanged,
    ApiKeyRevoked,
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
from projections import queries as q
from projections.liveness import HOLD

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


async def _insert_version(
    conn: Conn, env: Envelope, model_id: str, t: TrainingRequest, source: str
) -> None:
    await conn.execute(
        q.INSERT_VERSION,
        model_id,
        t.version,
        t.version_id,
        t.job_id,
        env.account_id,
        env.model_name,
        t.upload_id,
        t.intent,
        t.target,
        t.target_reason,
        t.metric,
        t.task,
        env.occurred_at,
        source,
        t.max_iterations,
        env.actor,
        t.time_budget_s,
    )


def _request_lines(env: Envelope, t: TrainingRequest, what: str) -> list[str]:
    return [
        f"{what} for {env.model_name} v{t.version} on dataset {t.upload_id}: {t.intent!r}",
        f"target: {t.target} ({t.target_reason})",
    ]


async def apply_event(conn: Conn, env: Envelope, partition: int, offset: int) -> None:
    """Write the read-model rows of one accepted event."""
    d = env.data
    at = env.occurred_at

    async def log_lines(job_id: str, version: int, lines: list[str], level: str = "INFO") -> None:
        await _log_lines(conn, env, partition, offset, job_id, version, lines, level)

    # The authors of account events (`created_by`, `issued_by`, `revoked_by`) are always
    # named: v1 events that left them empty are upcast from the envelope's actor.
    if isinstance(d, AccountCreated):
        await conn.execute(q.INSERT_ACCOUNT, env.account_id, d.created_by, at)
    elif isinstance(d, ApiKeyIssued):
        await conn.execute(
            q.INSERT_API_KEY,
            d.key_id,
            env.account_id,
            d.key_hash,
            d.scope,
            d.name,
            at,
            d.issued_by,
            None if d.rate_limits is None else msgspec.to_builtins(d.rate_limits),
        )
    elif isinstance(d, ApiKeyLimitsChanged):
        await conn.execute(
            q.SET_API_KEY_LIMITS,
            d.key_id,
            env.account_id,
            None if d.rate_limits is None else msgspec.to_builtins(d.rate_limits),
        )
    elif isinstance(d, ApiKeyRevoked):
        await conn.execute(q.REVOKE_API_KEY, d.key_id, env.account_id, at, d.revoked_by)
    elif isinstance(d, DatasetUploaded):
        columns = [{"name": c.name, "type": c.type} for c in d.columns]
        await conn.execute(
            q.INSERT_UPLOAD,
            d.upload_id,
            env.account_id,
            d.filename,
            d.format,
            d.rows,
            columns,
            d.size_bytes,
            d.sha256,
            env.actor,
            at,
        )
    elif isinstance(d, ModelCreated):
        t = d.training
        await conn.execute(
            q.INSERT_MODEL,
            d.model_id,
            env.account_id,
            env.model_name,
            d.name,
            d.intent,
            d.description,
            d.tags,
            t.upload_id,
            d.input_schema,
            d.output_schema,
            t.version,
            env.actor,
            at,
        )
        await _insert_version(conn, env, d.model_id, t, "create")
        await log_lines(t.job_id, t.version, _request_lines(env, t, "build requested"))
    elif isinstance(d, VersionRequested):
        t = d.training
        await _insert_version(conn, env, d.model_id, t, d.reason)
        await conn.execute(q.MODEL_NEW_VERSION, d.model_id, t.version, t.intent, t.upload_id, at)
        what = "retrain requested" if d.reason == "retrain" else "new version requested"
        await log_lines(t.job_id, t.version, _request_lines(env, t, what))
    elif isinstance(d, ModelUpdated):
        await conn.execute(q.UPDATE_MODEL, d.model_id, d.name, d.description, d.tags, at)
    elif isinstance(d, ModelDeleted):
        await conn.execute(q.DELETE_MODEL, d.model_id, at)
        await conn.execute(q.END_MODEL_DEPLOYMENTS, d.model_id, at)
    elif isinstance(d, DeploymentRequested):
        await conn.execute(
            q.INSERT_DEPLOYMENT,
            d.deployment_id,
            d.model_id,
            env.account_id,
            env.model_name,
            d.version,
            d.environment,
            d.replicas,
            d.auto_scale,
            env.actor,
            at,
        )
    elif isinstance(d, DeploymentActivated):
        await conn.execute(q.REPLACE_ACTIVE_DEPLOYMENTS, d.deployment_id, at)
        await conn.execute(q.ACTIVATE_DEPLOYMENT, d.deployment_id, at)
    elif isinstance(d, DeploymentFailed):
        await conn.execute(q.FAIL_DEPLOYMENT, d.deployment_id, d.message, at)
    elif isinstance(d, UndeployRequested):
        await conn.execute(q.UNDEPLOYING, d.deployment_id, at)
    elif isinstance(d, DeploymentStopped):
        await conn.execute(q.STOP_DEPLOYMENT, d.deployment_id, at)
    elif isinstance(d, BuildStarted):
        await conn.execute(q.VERSION_BUILDING, d.job_id, d.version, 1, at)
        await log_lines(d.job_id, d.version, [f"build started on {d.worker or 'a trainer'}"])
    elif isinstance(d, BuildProgressed):
        await conn.execute(q.VERSION_BUILDING, d.job_id, d.version, d.progress, at)
        await log_lines(d.job_id, d.version, d.lines)
    elif isinstance(d, VersionTrained):
        await conn.execute(
            q.VERSION_TRAINED,
            d.job_id,
            d.version,
            d.task,
            d.metric_name,
            d.metric_value,
            d.metrics,
            d.feature_importance,
            d.features,
            d.dropped_columns,
            d.rows_used,
            d.training_seconds,
            d.artifact,
            d.input_schema,
            d.output_schema,
            at,
            None if d.report is None else msgspec.to_builtins(d.report),
        )
        await log_lines(
            d.job_id,
            d.version,
            [
                f"trained: {d.metric_name} = {d.metric_value:.4f} on held-out rows; "
                "checking the serving path",
            ],
        )
    elif isinstance(d, VersionReady):
        await conn.execute(q.VERSION_READY, d.job_id, d.version, at)
        await log_lines(
            d.job_id,
            d.version,
            [
                f"sample prediction through the serving path: {d.sample_output}",
                f"v{d.version} is READY",
            ],
        )
    elif isinstance(d, BuildFailed):
        await conn.execute(q.VERSION_FAILED, d.job_id, d.version, d.code, d.message, at)
        await log_lines(
            d.job_id, d.version, [f"build failed ({d.code}): {d.message}"], level="ERROR"
        )
    if env.model_name and not isinstance(d, ModelCreated | ModelDeleted):
        await conn.execute(q.TOUCH_LIVE_MODEL, env.account_id, env.model_name, at)


async def _log_lines(
    conn: Conn,
    env: Envelope,
    partition: int,
    offset: int,
    job_id: str,
    version: int,
    lines: list[str],
    level: str = "INFO",
) -> None:
    if lines:
        await conn.executemany(
            q.INSERT_BUILD_LOG,
            [
                (
                    partition,
                    offset,
                    i,
                    job_id,
                    env.account_id,
                    env.model_name,
                    version,
                    env.occurred_at,
                    level,
                    line,
                )
                for i, line in enumerate(lines)
            ],
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
        streams = sorted({env.stream for *_, env in fresh})
        states: dict[str, StreamState] = {
            row["stream"]: decode_state(row["state"])
            for row in await conn.fetch(q.LOAD_STATES, streams)
        }
        archive: list[tuple[Any, ...]] = []
        for partition, offset, value, env in fresh:
            verdict = decide(states.get(env.stream, StreamState()), env)
            states[env.stream] = verdict.state
            archive.append(
                (
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
            )
            if verdict.accepted:
                await apply_event(conn, env, partition, offset)
            else:
                log.info("rejected %s %s: %s", env.type, env.event_id, verdict.reason)
        await conn.executemany(q.ARCHIVE_EVENT, archive)
        await conn.executemany(q.SAVE_STATE, [(s, encode_state(states[s])) for s in streams])
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
