"""Preparing the services: migrations and the events topic (idempotent, any process)."""

from __future__ import annotations

from intentml.config import Settings
from intentml.events.log import ensure_topic
from intentml.infra.db import create_pool, migrate


async def prepare(settings: Settings) -> None:
    """Apply pending migrations and create the events topic if missing."""
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        await migrate(pool)
    finally:
        await pool.close()
    await ensure_topic(settings.kafka_bootstrap_servers, settings.topic, settings.partitions)
