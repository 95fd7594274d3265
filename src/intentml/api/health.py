"""`/health`: PostgreSQL answers, Kafka answers, and a projector is running."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get

from intentml.api.platform import PlatformDep
from intentml.api.schemas import HealthOut
from projections.liveness import PROJECTOR_RUNNING


async def _check(coro: Any, timeout_s: float = 2.0) -> Any:
    try:
        return await asyncio.wait_for(coro, timeout_s)
    except Exception:
        return None


@get("/health", exclude_from_auth=True, summary="Liveness of the platform's parts")
async def health(platform: PlatformDep) -> Response[HealthOut]:
    """200 when the database, the broker and a projector answer; 503 otherwise."""
    db = await _check(platform.pool.fetchval("SELECT 1"))
    kafka = await _check(platform.log.producer.client.force_metadata_update())
    projector = await _check(platform.pool.fetchval(PROJECTOR_RUNNING))
    parts = {
        "database": "ok" if db == 1 else "down",
        "kafka": "ok" if kafka else "down",
        "projector": "ok" if projector else "down",
    }
    ok = all(v == "ok" for v in parts.values())
    body = HealthOut(status="ok" if ok else "degraded", **parts)
    return Response(body, status_code=200 if ok else 503)
