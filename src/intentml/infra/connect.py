"""The wiring every process builds once: `connect(settings, role)`, and the consumer factory.

The API, the workers, start-up and the operator CLI all talk to the platform through
the same handles: a PostgreSQL pool, a producer and the event log on it, and the
checkpoint watcher (the projector's progress, by LISTEN/NOTIFY). They differ only in
how many connections their pool holds and whether waits are bounded (the API's are:
a request must not hang on a lost database). Uploads and artifacts are files under
the data dir (`intentml.infra.storage`), so there is no store client to open.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from intentml.config import Settings
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.log import EventLog, new_producer
from intentml.infra.db import create_pool

#: Who connects: the role decides the size of its pool.
Role = Literal["api", "worker", "projector", "operator"]

#: (min, max) connections of each role's pool. The API serves concurrent requests; a
#: worker handles a few partitions at a time; the projector writes one batch at a time
#: (plus its liveness hold); start-up and operator commands send one command.
POOL_SIZES: dict[Role, tuple[int, int]] = {
    "api": (2, 10),
    "worker": (1, 4),
    "projector": (1, 3),
    "operator": (1, 2),
}


async def open_pool(settings: Settings, role: Role) -> asyncpg.Pool:
    """The PostgreSQL pool of `role`; only the API's waits are bounded (`db_timeout_s`):
    the projector, workers and operators run long statements on purpose."""
    min_size, max_size = POOL_SIZES[role]
    timeout_s = settings.db_timeout_s if role == "api" else None
    return await create_pool(
        settings.database_url, min_size=min_size, max_size=max_size, timeout_s=timeout_s
    )


@dataclass(frozen=True)
class Connections:
    """A process's handles on the platform, opened by `connect` and closed by `close`."""

    settings: Settings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    log: EventLog
    watcher: CheckpointWatcher

    async def close(self) -> None:
        """Stop listening, stop the producer, close the pool (whatever was started)."""
        await self.watcher.stop()
        await self.producer.stop()
        await self.pool.close()


async def connect(settings: Settings, role: Role) -> Connections:
    """Open the pool, start the producer and the checkpoint watcher; on a failure, close
    what was opened and raise. The caller owns the result and `close`s it."""
    pool = await open_pool(settings, role)
    producer = new_producer(settings.kafka_bootstrap_servers)
    conns = Connections(
        settings,
        pool,
        producer,
        EventLog(producer, pool, settings.topic),
        CheckpointWatcher(settings.database_url),
    )
    try:
        await producer.start()
        await conns.watcher.start()
    except BaseException:
        await conns.close()
        raise
    return conns


@contextlib.asynccontextmanager
async def connected(settings: Settings, role: Role) -> AsyncIterator[Connections]:
    """`connect` for the length of a `with` block."""
    conns = await connect(settings, role)
    try:
        yield conns
    finally:
        await conns.close()


def new_consumer(
    bootstrap_servers: str, group_id: str, max_poll_records: int | None = None
) -> AIOKafkaConsumer:
    """A member of consumer group `group_id`, as the projector and the workers read the
    log: it commits (or stores) its offsets itself, after the work is done, never on a
    timer; a group with no committed offset starts at the beginning of the log (every
    event counts); and a poll returns within 20 ms of a record's arrival (commands wait
    for the projector, so latency matters more than fetch sizes).

    The session lasts 6 s, not aiokafka's 10: the embedded broker holds every join for half
    the session timeout (measured: 5 s at 10 s, 3 s at 6 s), and a member killed with
    SIGKILL keeps its partitions for a whole session. Heartbeats run on the event loop,
    which the workers never block for long (training runs in a thread pool)."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
        max_poll_records=max_poll_records,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
