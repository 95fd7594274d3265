"""What the API processes hold for their lifetime: pool, log, checkpoints, models."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from litestar.di import NamedDependency

from intentml.api.auth import Principal
from intentml.api.errors import ApiError
from intentml.api.ratelimit import FailedAuthLimiter, RateLimiter
from intentml.api.serving_cache import FreshCache, ModelCache
from intentml.config import Settings
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.commands import Outcome, ReadModelReset, submit
from intentml.events.envelope import Envelope
from intentml.events.log import EventLog, new_producer
from intentml.infra.db import create_pool

__all__ = ["Outcome", "Platform", "PlatformDep", "open_platform"]


class Platform:
    """The API's handles on the outside world, shared by all requests."""

    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, log: EventLog, watcher: CheckpointWatcher
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.log = log
        self.watcher = watcher
        self.models = ModelCache(settings.data_dir)
        self.lookups: FreshCache[Any] = FreshCache(watcher)
        #: Verified keys (and unknown ones, as None), dropped with every applied batch, so
        #: a revocation takes effect here as soon as this process hears of its checkpoint.
        self.keys: FreshCache[Principal] = FreshCache(watcher)
        #: Per-key rate limits, synced with the other API processes through PostgreSQL.
        self.limiter = RateLimiter()
        #: Failed authentications per client address (see `FailedAuthLimiter`).
        self.failed_auth = FailedAuthLimiter(settings.rate_limit_failed_auth)

    async def submit(self, envelope: Envelope) -> Outcome:
        """Append a command event and wait (bounded) for the fold's verdict on it."""
        try:
            return await submit(
                self.log, self.watcher, self.pool, envelope, self.settings.command_wait_s
            )
        except ReadModelReset as exc:
            raise ApiError(503, "the read model is being rebuilt; retry in a moment") from exc

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """One row from the read models."""
        return await self.pool.fetchrow(query, *args)


#: How handlers declare that they need the platform (injected by the app factory).
PlatformDep = NamedDependency[Platform]


@contextlib.asynccontextmanager
async def open_platform(settings: Settings) -> AsyncIterator[Platform]:
    """Connect to PostgreSQL and Kafka for the lifetime of the app."""
    pool = await create_pool(settings.database_url, min_size=2, max_size=10)
    producer = new_producer(settings.kafka_bootstrap_servers)
    watcher = CheckpointWatcher(settings.database_url)
    try:
        await producer.start()
        await watcher.start()
        platform = Platform(settings, pool, EventLog(producer, pool, settings.topic), watcher)
        syncing = asyncio.create_task(platform.limiter.run(pool, settings.rate_limit_sync_s))
        stopping = asyncio.Event()
        # Events a crashed appender left pending reach the log even if nobody appends
        # to their streams again (`EventLog.produce_abandoned`).
        sweeping = asyncio.create_task(platform.log.sweep(stopping))
        try:
            yield platform
        finally:
            stopping.set()
            syncing.cancel()
            await asyncio.gather(syncing, sweeping, return_exceptions=True)
            # What this process served since the last sync still counts for the others.
            with contextlib.suppress(Exception):
                await platform.limiter.sync(pool)
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()
