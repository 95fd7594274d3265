"""`/health`: PostgreSQL answers, Kafka answers, and a projector is running.

It answers within `HEALTH_WAIT_S` whatever is down: the checks run at once, each on
its own connection (`Platform.health_pool`, so requests that hold every pooled
connection, such as writes waiting for a frozen broker, do not make the database
look down), and a check still running at the deadline is abandoned, not awaited:
cancelling a statement on a frozen server needs a round trip to it, and
`asyncio.wait_for` waits for the cancellation, which is why its 2 s timeout never
fired when PostgreSQL was frozen (and the pool had no bound on acquiring a connection,
connecting, or a statement: see `intentml.infra.db.create_pool`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from litestar import Response, get

from intentml.api.platform import PlatformDep
from intentml.api.schemas import HaltOut, HealthOut
from projections import quarantine as qq
from projections.liveness import PROJECTOR_RUNNING
from projections.projector import PROJECTION

#: The longest `/health` takes.
HEALTH_WAIT_S = 1.5


def _forget(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: an abandoned check's error is its verdict, not a log


async def _checks(checks: dict[str, Awaitable[Any]], timeout_s: float) -> dict[str, Any]:
    """Each check's result, or None when it failed or was not done within `timeout_s`."""
    tasks = {name: asyncio.ensure_future(c) for name, c in checks.items()}
    done, pending = await asyncio.wait(tasks.values(), timeout=timeout_s)
    for task in pending:
        # Left to finish on its own (bounded by the pool's timeouts), never awaited here;
        # not cancelled either: asyncpg would then finish the release in a shielded task
        # whose error nobody retrieves.
        task.add_done_callback(_forget)
    return {
        name: task.result() if task in done and task.exception() is None else None
        for name, task in tasks.items()
    }


@get("/health", exclude_from_auth=True, summary="Liveness of the platform's parts")
async def health(platform: PlatformDep) -> Response[HealthOut]:
    """200 when the database, the broker and a projector answer; 503 otherwise."""

    async def database() -> tuple[bool, list[HaltOut], int]:
        async with platform.health_pool.acquire() as conn:
            running = await conn.fetchval(PROJECTOR_RUNNING)
            halts = [HaltOut(**dict(r)) for r in await conn.fetch(qq.HALTS, PROJECTION)]
            quarantined = await conn.fetchval(qq.QUARANTINE_COUNT, PROJECTION)
        return bool(running), halts, int(quarantined)

    found = await _checks(
        {
            "database": database(),
            "kafka": platform.log.producer.client.force_metadata_update(),
        },
        HEALTH_WAIT_S,
    )
    db = found["database"]
    running, halts, quarantined = db if db is not None else (False, [], 0)
    projector = "halted" if halts else "ok" if running else "down"
    parts = {
        "database": "ok" if db is not None else "down",
        "kafka": "ok" if found["kafka"] else "down",
        "projector": projector,
    }
    ok = all(v == "ok" for v in parts.values())
    body = HealthOut(
        status="ok" if ok else "degraded", halted=halts, quarantined=quarantined, **parts
    )
    return Response(body, status_code=200 if ok else 503)
