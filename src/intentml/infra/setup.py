"""Preparing the services: migrations and the events topic (idempotent, any process)."""

from __future__ import annotations

from intentml.config import Settings
from intentml.events.log import ensure_topic
from intentml.infra.connect import open_pool
from intentml.infra.db import migrate


async def prepare(settings: Settings) -> None:
    """Apply pending migrations and create the events topic if missing."""
    pool = await open_pool(settings, "operator")
    try:
        await migrate(pool)
    finally:
        await pool.close()
    await ensure_topic(settings.kafka_bootstrap_servers, settings.topic, settings.partitions)
