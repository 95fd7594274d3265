"""`/health`: PostgreSQL answers, Kafka answers, and a projector is running; within
1.5 s whatever is down (see `intentml.api.liveness` for how)."""

from __future__ import annotations

from litestar import Response, get

from intentml.api.platform import PlatformDep
from intentml.api.schemas import HaltOut, HealthOut


@get("/health", exclude_from_auth=True, summary="Liveness of the platform's parts")
async def health(platform: PlatformDep) -> Response[HealthOut]:
    """200 when the database, the broker and a projector answer; 503 otherwise."""
    seen = await platform.liveness.observe()
    db = seen.database
    halts = [HaltOut(**h) for h in db.halts] if db else []
    projector = "halted" if halts else "ok" if db and db.projector_running else "down"
    parts = {
        "database": "ok" if db is not None else "down",
        "kafka": "ok" if seen.kafka else "down",
        "projector": projector,
    }
    ok = all(v == "ok" for v in parts.values())
    body = HealthOut(
        status="ok" if ok else "degraded",
        halted=halts,
        quarantined=db.quarantined if db else 0,
        **parts,
    )
    return Response(body, status_code=200 if ok else 503)
