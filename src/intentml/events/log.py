"""Appending to the log: one producer, the per-stream hash chain, topic creation."""

from __future__ import annotations

import contextlib

import asyncpg
import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from intentml.events.envelope import Envelope, cloudevents_headers, encode, event_hash

#: Topic configs fixed by the design: the log is the system of record, keep it all.
TOPIC_CONFIGS = {"retention.ms": "-1", "cleanup.policy": "delete"}

_LOCK_STREAM = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
_GET_HEAD = "SELECT hash FROM stream_heads WHERE stream = $1"
_SET_HEAD = (
    "INSERT INTO stream_heads (stream, hash, event_id) VALUES ($1, $2, $3) "
    "ON CONFLICT (stream) DO UPDATE SET hash = EXCLUDED.hash, event_id = EXCLUDED.event_id"
)


class LogUnavailable(Exception):
    """The broker cannot take events right now and nothing was appended: retry later."""

    #: What a client is told to wait before retrying (`Retry-After`).
    retry_after_s = 2


class Appended(msgspec.Struct, frozen=True):
    """Where an event landed in the log."""

    envelope: Envelope
    partition: int
    offset: int
    hash: str


async def ensure_topic(bootstrap_servers: str, topic: str, partitions: int) -> None:
    """Create the events topic with infinite retention if it does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        if topic in await admin.list_topics():
            return
        # another process may create it between our check and our create
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [NewTopic(topic, partitions, 1, topic_configs=dict(TOPIC_CONFIGS))]
            )
    finally:
        await admin.close()


def new_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    """A producer that waits for the broker's acknowledgement of every event.

    Not idempotent: the embedded broker does not support InitProducerId; the
    consumers are idempotent instead (at-least-once delivery).
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", linger_ms=0, enable_idempotence=False
    )


class EventLog:
    """Appends envelopes to the topic, chaining each to the previous event of its stream.

    The chain head lives in PostgreSQL and is read and advanced under a
    per-stream advisory lock, so concurrent appenders (API processes and
    workers) cannot fork a stream's chain.
    """

    def __init__(self, producer: AIOKafkaProducer, pool: asyncpg.Pool, topic: str) -> None:
        self.producer = producer
        self.pool = pool
        self.topic = topic

    async def append(self, envelope: Envelope) -> Appended:
        """Append one event; returns its partition, offset and hash once acknowledged."""
        stream = envelope.stream
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK_STREAM, stream)
            prev = await conn.fetchval(_GET_HEAD, stream)
            chained = msgspec.structs.replace(envelope, prev_hash=prev or "")
            value = encode(chained)
            try:
                meta = await self.producer.send_and_wait(
                    self.topic,
                    value,
                    key=stream.encode(),
                    headers=cloudevents_headers(chained),
                )
            except KafkaError as exc:
                raise LogUnavailable(str(exc)) from exc
            digest = event_hash(value)
            await conn.execute(_SET_HEAD, stream, digest, chained.event_id)
        return Appended(chained, meta.partition, meta.offset, digest)
