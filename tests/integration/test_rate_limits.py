"""Per-key rate limits against the real stack: 429 with Retry-After, recovery, per-key
limits set by an admin, one limit shared by two API processes through PostgreSQL, and
the limit on failed authentications per client address.

The limiters' clocks are replaced by one the test moves, so recovery is tested without
waiting; syncs are called directly (the background ones every second change nothing
while the clock stands still).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import msgspec
from litestar import Litestar

from intentml.api.platform import Platform
from intentml.cli.accounts import create_key
from intentml.config import Settings
from intentml.events.types import RateLimits
from tests.stack import Stack, api_server, error_of, platform_stack


class Clock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def platform_of(app: Litestar) -> Platform:
    platform: Platform = app.state.platform
    return platform


async def new_key(
    stack: Stack, rate_limits: dict[str, Any] | None, scope: str = "read_write"
) -> str:
    body: dict[str, Any] = {"name": "limited", "scope": scope}
    if rate_limits is not None:
        body["rate_limits"] = rate_limits
    r = await stack.client.post("/auth/api-keys", json=body)
    assert r.status_code == 201, r.text
    secret: str = r.json()["key"]
    return secret


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_limit_trips_with_retry_after_and_recovers(settings: Settings) -> None:
    async with (
        platform_stack(settings, trainer=False, deployer=False) as stack,
        api_server(settings) as (url, app),
    ):
        clock = Clock()
        platform_of(app).limiter.clock = clock
        key = await new_key(stack, {"management_per_minute": 3, "inference_per_minute": 2})
        async with httpx.AsyncClient(base_url=url, headers=headers(key)) as c:
            for _ in range(3):
                assert (await c.get("/models")).status_code == 200
            r = await c.get("/models")
            err = error_of(r, 429, "rate_limit_exceeded")
            # 3 per minute: the next token is 20 s away
            assert r.headers["Retry-After"] == "20"
            assert err["details"]["kind"] == "management"
            assert err["details"]["limit_per_minute"] == 3
            # a refused request is no different on another route of the kind
            error_of(await c.get("/auth/api-keys"), 429, "rate_limit_exceeded")

            # inference has a bucket of its own (a 404: no such model, but counted)
            for _ in range(2):
                error_of(await c.post("/models/ghost/v1/infer", json={}), 404, "not_found")
            r = await c.post("/models/ghost/v1/infer", json={})
            error_of(r, 429, "rate_limit_exceeded")
            assert r.headers["Retry-After"] == "30"

            clock.now += 19.5
            r = await c.get("/models")
            error_of(r, 429, "rate_limit_exceeded")
            assert r.headers["Retry-After"] == "1"
            clock.now += 0.5
            assert (await c.get("/models")).status_code == 200
            error_of(await c.get("/models"), 429, "rate_limit_exceeded")
            clock.now += 60
            for _ in range(3):
                assert (await c.get("/models")).status_code == 200
            error_of(await c.get("/models"), 429, "rate_limit_exceeded")

        # other keys are untouched by this one's limit
        r = await stack.client.get("/models")
        assert r.status_code == 200


async def test_an_admin_sets_and_lifts_a_keys_limits(settings: Settings) -> None:
    async with (
        platform_stack(settings, trainer=False, deployer=False) as stack,
        api_server(settings) as (url, app),
    ):
        platform_of(app).limiter.clock = Clock()
        admin = httpx.AsyncClient(base_url=url, headers=stack.client.headers)
        r = await admin.post("/auth/api-keys", json={"name": "k", "scope": "read_only"})
        assert r.status_code == 201, r.text
        assert r.json()["rate_limits"] == {
            "management_per_minute": 600,
            "inference_per_minute": 6000,
            "source": "default",
        }
        key, key_id = r.json()["key"], r.json()["key_id"]
        limited = {"management_per_minute": 2, "inference_per_minute": None}
        r = await admin.patch(f"/auth/api-keys/{key_id}", json={"rate_limits": limited})
        assert r.status_code == 200, r.text
        assert r.json()["rate_limits"] == {**limited, "source": "key"}
        listed = {k["key_id"]: k for k in (await admin.get("/auth/api-keys")).json()["api_keys"]}
        assert listed[key_id]["rate_limits"] == {**limited, "source": "key"}

        async with httpx.AsyncClient(base_url=url, headers=headers(key)) as c:
            assert [(await c.get("/models")).status_code for _ in range(3)] == [200, 200, 429]
            # no inference limit: nothing trips (404s: no model, but authorized and counted)
            for _ in range(50):
                error_of(await c.post("/models/ghost/v1/infer", json={}), 404, "not_found")

            # back to the defaults: what was spent counts against 600, so it serves again
            r = await admin.patch(f"/auth/api-keys/{key_id}", json={"rate_limits": None})
            assert r.status_code == 200, r.text
            assert r.json()["rate_limits"]["source"] == "default"
            assert (await c.get("/models")).status_code == 200

        # refused: bad limits (400), another key id (404), a revoked key (409)
        for bad in (
            {"rate_limits": {"management_per_minute": 0, "inference_per_minute": None}},
            {"rate_limits": {"management_per_minute": 5}},
            {"rate_limits": {"management_per_minute": 5, "inference_per_minute": 5, "x": 1}},
            {},
        ):
            r = await admin.patch(f"/auth/api-keys/{key_id}", json=bad)
            error_of(r, 400, "invalid_request")
        r = await admin.patch("/auth/api-keys/key_ghost", json={"rate_limits": None})
        error_of(r, 404, "not_found")
        assert (await admin.delete(f"/auth/api-keys/{key_id}")).status_code == 200
        r = await admin.patch(f"/auth/api-keys/{key_id}", json={"rate_limits": None})
        error_of(r, 409, "conflict")
        await admin.aclose()


async def test_an_unlimited_key_never_trips(settings: Settings) -> None:
    tight = msgspec.structs.replace(settings, rate_limit_inference=2, rate_limit_management=2)
    async with (
        platform_stack(tight, trainer=False, deployer=False) as stack,
        api_server(tight) as (url, _app),
    ):
        # the bootstrap key has the (tight) defaults; it issues an unlimited key first
        unlimited = {"management_per_minute": None, "inference_per_minute": None}
        r = await stack.client.post(
            "/auth/api-keys",
            json={"name": "bench", "scope": "read_only", "rate_limits": unlimited},
        )
        assert r.status_code == 201, r.text
        async with httpx.AsyncClient(base_url=url, headers=headers(r.json()["key"])) as c:
            for _ in range(100):
                assert (await c.get("/models")).status_code == 200
        # the bootstrap key's second request is its last of this half minute
        assert (await stack.client.get("/models")).status_code == 200
        error_of(await stack.client.get("/models"), 429, "rate_limit_exceeded")

        # operators issue such keys too (`intentml keys create --unlimited`)
        issued = await create_key(tight, "default", "read_only", rate_limits=RateLimits())
        async with httpx.AsyncClient(base_url=url, headers=headers(issued.secret)) as c:
            for _ in range(20):
                assert (await c.get("/models")).status_code == 200


async def test_two_api_processes_share_a_keys_limit(settings: Settings) -> None:
    async with (
        platform_stack(settings, trainer=False, deployer=False) as stack,
        api_server(settings) as (url_a, app_a),
        api_server(settings) as (url_b, app_b),
    ):
        clock = Clock()
        a, b = platform_of(app_a), platform_of(app_b)
        a.limiter.clock = b.limiter.clock = clock
        key = await new_key(stack, {"management_per_minute": 3, "inference_per_minute": None})
        async with (
            httpx.AsyncClient(base_url=url_a, headers=headers(key)) as ca,
            httpx.AsyncClient(base_url=url_b, headers=headers(key)) as cb,
        ):
            assert (await ca.get("/models")).status_code == 200
            assert (await ca.get("/models")).status_code == 200
            await a.limiter.sync(a.pool)
            # B has not served this key yet: it learns of A's two at its next sync
            assert (await cb.get("/models")).status_code == 200
            await b.limiter.sync(b.pool)
            error_of(await cb.get("/models"), 429, "rate_limit_exceeded")
            await a.limiter.sync(a.pool)
            r = await ca.get("/models")
            error_of(r, 429, "rate_limit_exceeded")
            assert r.headers["Retry-After"] == "20"

            # one token refills for both: whoever takes it, the other is refused
            clock.now += 20
            assert (await cb.get("/models")).status_code == 200
            await b.limiter.sync(b.pool)
            await a.limiter.sync(a.pool)
            error_of(await ca.get("/models"), 429, "rate_limit_exceeded")

        rows = await stack.pool.fetch("SELECT kind, tokens FROM rate_limit_buckets")
        assert any(r["kind"] == "management" and r["tokens"] < 1 for r in rows), rows


async def test_an_address_that_keeps_failing_to_authenticate_is_refused_before_lookups(
    settings: Settings,
) -> None:
    limited = msgspec.structs.replace(settings, rate_limit_failed_auth=3)
    async with (
        platform_stack(limited, trainer=False, deployer=False) as stack,
        api_server(limited) as (url, app),
    ):
        clock = Clock()
        platform_of(app).failed_auth.clock = clock
        known = await new_key(stack, None)
        unused = await new_key(stack, None)
        async with httpx.AsyncClient(base_url=url) as c:
            assert (await c.get("/models", headers=headers(known))).status_code == 200
            for i in range(3):
                wrong = headers(f"iml_sk_wrong_{i}")
                error_of(await c.get("/models", headers=wrong), 401, "unauthorized")
            r = await c.get("/models", headers=headers("iml_sk_wrong_3"))
            err = error_of(r, 429, "rate_limit_exceeded")
            assert r.headers["Retry-After"] == "20"  # 3 a minute: the next in 20 s
            assert err["details"]["kind"] == "failed_authentication"
            # A key that authenticated here before still works from this address; one
            # that did not waits like the wrong ones (its lookup is what is bounded).
            assert (await c.get("/models", headers=headers(known))).status_code == 200
            error_of(await c.get("/models", headers=headers(unused)), 429, "rate_limit_exceeded")
            # No key at all costs no lookup: still a plain 401.
            error_of(await c.get("/models"), 401, "unauthorized")

            clock.now += 20
            assert (await c.get("/models", headers=headers(unused))).status_code == 200
            r = await c.get("/models", headers=headers("iml_sk_wrong_4"))
            error_of(r, 401, "unauthorized")
            r = await c.get("/models", headers=headers("iml_sk_wrong_5"))
            error_of(r, 429, "rate_limit_exceeded")
