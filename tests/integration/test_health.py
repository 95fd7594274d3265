"""`/health` tells the truth about the database, the broker and the projector."""

from __future__ import annotations

import asyncio
import contextlib

from intentml.config import Settings
from tests.stack import platform_stack


async def test_health_is_ok_then_503_when_the_projector_stops(settings: Settings) -> None:
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        r = await stack.client.get("/health", headers={"Authorization": ""})
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ok", "database": "ok", "kafka": "ok", "projector": "ok"}

        stack.projector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stack.projector
        r = await stack.client.get("/health")
        assert r.status_code == 503
        assert r.json()["projector"] == "down" and r.json()["database"] == "ok"
        assert r.json()["status"] == "degraded"

        schema = await stack.client.get("/schema/openapi.json", headers={"Authorization": ""})
        assert schema.status_code == 200
        paths = schema.json()["paths"]
        assert {
            "/uploads",
            "/models",
            "/models/{model_name}",
            "/models/{model_name}/{model_version}/predictions",
            "/predict/{deployment_id}",
            "/models/build-logs",
            "/health",
        } <= set(paths)
        deleting = paths["/models/{model_name}"]["delete"]["responses"]
        assert {"200", "401", "404", "409"} <= set(deleting)
        error_ref = deleting["404"]["content"]["application/json"]["schema"]["$ref"]
        assert error_ref.endswith("/ErrorBody")
        assert "409" not in paths["/health"]["get"]["responses"]
