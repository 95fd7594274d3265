"""What `/health` reads of the database: a running projector, its halts, the quarantine."""

from __future__ import annotations

from typing import Any

import msgspec

from projections import quarantine as qq
from projections.liveness import PROJECTOR_RUNNING
from projections.read_models import Queryable


class DatabaseState(msgspec.Struct, frozen=True):
    """What the database says: whether a projector runs, its halts, the quarantine."""

    projector_running: bool
    halts: list[dict[str, Any]]
    quarantined: int


async def database_state(db: Queryable, projection: str) -> DatabaseState:
    """Whether a projector holds its lock, and the halts and quarantined records of
    `projection`."""
    running = await db.fetchval(PROJECTOR_RUNNING)
    halts = [dict(r) for r in await db.fetch(qq.HALTS, projection)]
    quarantined = await db.fetchval(qq.QUARANTINE_COUNT, projection)
    return DatabaseState(bool(running), halts, int(quarantined))
