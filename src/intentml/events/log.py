"""Appending to the log: one producer, the per-stream hash chain, topic creation.

An append is crash-proof in three steps, none of which holds a database connection
or a lock that reads need while the broker is waited on:

1. **Claim** (one short transaction): lock the stream's head row, chain the event to
   the head, and store the new head together with the event's bytes (`pending`).
   From here on the event is durable and the chain can only continue from it.
2. **Produce** the bytes and wait for the broker's acknowledgement (bounded).
3. **Settle**: clear `pending`.

A crash or a lost acknowledgement between 1 and 3 leaves the event pending. Whoever
appends to that stream next, or the sweeper every process runs, produces it again
first (the same bytes), so the next event never links to a head the log lacks. When
the first copy did reach the log, the log holds the event twice; the fold judges the
second copy "not linked to the stream's last event" and nothing takes effect twice
(`intentml.domain.fold.judge`), and `events verify` recognises it as a re-sent copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from typing import Any

import asyncpg
import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from intentml.events.envelope import Envelope, cloudevents_headers, decode, encode, event_hash

log = logging.getLogger(__name__)

#: Topic configs fixed by the design: the log is the system of record, keep it all.
TOPIC_CONFIGS = {"retention.ms": "-1", "cleanup.policy": "delete"}

_CLAIM_HEAD = (
    "SELECT hash, event_id, pending, pending_since < now() - make_interval(secs => $2) "
    "AS abandoned FROM stream_heads WHERE stream = $1 FOR UPDATE"
)
_SET_PENDING_HEAD = (
    "INSERT INTO stream_heads (stream, hash, event_id, pending, pending_since) "
    "VALUES ($1, $2, $3, $4, now()) ON CONFLICT (stream) DO UPDATE SET hash = EXCLUDED.hash, "
    "event_id = EXCLUDED.event_id, pending = EXCLUDED.pending, pending_since = now()"
)
#: Take over a pending event whose appender is gone: renewing the lease keeps two
#: takers from producing it at once.
_TAKE_OVER = "UPDATE stream_heads SET pending_since = now() WHERE stream = $1"
_SETTLE = (
    "UPDATE stream_heads SET pending = NULL, pending_since = NULL "
    "WHERE stream = $1 AND event_id = $2"
)
#: The appender could not produce: anyone may produce the event from now on.
_RELEASE = (
    "UPDATE stream_heads SET pending_since = 'epoch' "
    "WHERE stream = $1 AND event_id = $2 AND pending IS NOT NULL"
)
_ABANDONED = (
    "UPDATE stream_heads SET pending_since = now() WHERE stream IN ("
    " SELECT stream FROM stream_heads WHERE pending IS NOT NULL"
    " AND pending_since < now() - make_interval(secs => $1) LIMIT 100"
    " FOR UPDATE SKIP LOCKED) RETURNING stream, event_id, pending"
)


class LogUnavailable(Exception):
    """The broker cannot take events right now and nothing was appended: retry later."""

    #: What a client is told to wait before retrying (`Retry-After`).
    retry_after_s = 2


class Appended(msgspec.Struct, frozen=True):
    """An appended event: durable and chained; where it landed once the broker acknowledged.

    `partition` and `offset` are None when the acknowledgement did not come in time: the
    event is stored with its stream's head and will be produced by the next appender of
    the stream or by a sweeper, never lost and never doubled in effect.
    """

    envelope: Envelope
    partition: int | None
    offset: int | None
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

    The chain head and the pending event live in PostgreSQL (`stream_heads`); see the
    module's docstring for why a crash at any point can neither lose an appended event
    nor fork a chain.
    """

    def __init__(
        self,
        producer: AIOKafkaProducer,
        pool: asyncpg.Pool,
        topic: str,
        *,
        produce_timeout_s: float = 5.0,
        lease_s: float | None = None,
    ) -> None:
        self.producer = producer
        self.pool = pool
        self.topic = topic
        #: How long an append waits for the broker's acknowledgement.
        self.produce_timeout_s = produce_timeout_s
        #: A pending event older than this has lost its appender (it waits at most
        #: `produce_timeout_s`): another may produce it.
        self.lease_s = produce_timeout_s + 2.0 if lease_s is None else lease_s
        #: When the broker last failed us (monotonic), or None: appends then ask it
        #: first, so a command during an outage is refused before anything is stored.
        self.broker_failed_at: float | None = None
        self._streams: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def append(self, envelope: Envelope) -> Appended:
        """Append one event: durable and chained when this returns (see `Appended`).

        Raises `LogUnavailable`, with nothing stored, when the broker is known to be down.
        """
        await self._check_broker()
        stream = envelope.stream
        lock = self._streams.setdefault(stream, asyncio.Lock())
        async with lock:  # this process's appenders of one stream queue here, not in SQL
            chained, value, digest = await self._claim(envelope)
            meta = await self._produce(stream, value, chained)
        if meta is None:
            return Appended(chained, None, None, digest)
        return Appended(chained, meta[0], meta[1], digest)

    async def _claim(self, envelope: Envelope) -> tuple[Envelope, bytes, str]:
        """Chain `envelope` to its stream's head and store both (step 1). An earlier event
        still pending is produced first, so the log always has what the head links to."""
        stream = envelope.stream
        deadline = time.monotonic() + self.lease_s + self.produce_timeout_s
        delay = 0.005
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                head = await conn.fetchrow(_CLAIM_HEAD, stream, self.lease_s)
                if head is None or head["pending"] is None:
                    chained = msgspec.structs.replace(
                        envelope, prev_hash=head["hash"] if head else ""
                    )
                    value = encode(chained)
                    digest = event_hash(value)
                    await conn.execute(_SET_PENDING_HEAD, stream, digest, chained.event_id, value)
                    return chained, value, digest
                if head["abandoned"]:
                    await conn.execute(_TAKE_OVER, stream)
            if head["abandoned"]:
                await self._produce(stream, head["pending"], decode(head["pending"]))
                if self.broker_failed_at is not None:
                    raise LogUnavailable("the broker did not take the stream's pending event")
                continue
            # Another process is producing this stream's previous event: it settles or
            # gives up within its lease.
            if time.monotonic() > deadline:
                raise LogUnavailable(f"stream {stream} is busy: its last event is still pending")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def _produce(self, stream: str, value: bytes, env: Envelope) -> tuple[int, int] | None:
        """Produce a claimed event and settle it (steps 2 and 3); None if the broker did
        not acknowledge in time (the event stays pending, free for others to produce)."""
        try:
            meta = await asyncio.wait_for(
                self.producer.send_and_wait(
                    self.topic, value, key=stream.encode(), headers=cloudevents_headers(env)
                ),
                self.produce_timeout_s,
            )
        except (KafkaError, TimeoutError) as exc:
            self.broker_failed_at = time.monotonic()
            log.warning(
                "event %s of %s not acknowledged (%r); left pending", env.event_id, stream, exc
            )
            with contextlib.suppress(Exception):
                await self.pool.execute(_RELEASE, stream, env.event_id)
            return None
        self.broker_failed_at = None
        await self.pool.execute(_SETTLE, stream, env.event_id)
        return meta.partition, meta.offset

    async def _check_broker(self) -> None:
        """Refuse at once while the broker is down; ask it again at most once a second."""
        failed_at = self.broker_failed_at
        if failed_at is None:
            return
        if time.monotonic() - failed_at < 1.0:
            raise LogUnavailable("the event log is unavailable")
        try:
            ok = await asyncio.wait_for(self.producer.client.force_metadata_update(), 1.0)
        except Exception:
            ok = False
        if not ok:
            self.broker_failed_at = time.monotonic()
            raise LogUnavailable("the event log is unavailable")
        self.broker_failed_at = None

    async def produce_abandoned(self) -> int:
        """Produce every pending event whose appender is gone; returns how many the broker
        took. What lets an acknowledged command reach the log when its appender crashed
        and nobody appends to its stream again."""
        produced = 0
        rows: list[Any] = await self.pool.fetch(_ABANDONED, self.lease_s)
        for row in rows:
            stream, value = row["stream"], row["pending"]
            if await self._produce(stream, value, decode(value)) is not None:
                produced += 1
        return produced

    async def sweep(self, stop: asyncio.Event, interval_s: float = 1.0) -> None:
        """Run `produce_abandoned` every `interval_s` until `stop` is set."""
        while not stop.is_set():
            try:
                if n := await self.produce_abandoned():
                    log.info("produced %d events left pending by a lost appender", n)
            except Exception as exc:  # the database or broker is down: try again later
                log.warning("sweeping pending events failed: %r", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
