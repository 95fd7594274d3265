"""Outages degrade, then recover: a frozen database or broker (SIGSTOP, not a fake) gives
fast 503s, an honest `/health` and models still served from memory; SIGCONT brings it
all back without a restart.

Each test starts its own PostgreSQL server and broker, so freezing them stops nothing
else of the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from intentml.api.platform import Platform
from intentml.config import Settings
from intentml.infra.embedded import EmbeddedBroker, start_postgres, stop_postgres
from tests.conftest import settings_for
from tests.data import POSITIVE
from tests.stack import Stack, error_of, platform_stack

CLEAN = {k: v for k, v in POSITIVE.items() if k != "customer_id"}
#: What "within about 2 s" is allowed to take on a busy 2-core machine.
FAST_S = 4.0


@contextlib.contextmanager
def frozen(pids: list[int]) -> Iterator[None]:
    """SIGSTOP the processes for the block; SIGCONT them however it ends."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def postgres_pids(pgdata: Path) -> list[int]:
    """The postmaster of `pgdata` and every backend of it: the whole server."""
    postmaster = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    children = psutil.Process(postmaster).children(recursive=True)
    return [postmaster, *(c.pid for c in children)]


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    """A response and how long it took."""
    started = time.monotonic()
    r = await request
    return r, time.monotonic() - started


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    """Wait for `check()` to hold, polling as a client would, up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "not recovered in time"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def own_services(tmp_path: Path) -> AsyncIterator[tuple[Path, str, EmbeddedBroker]]:
    """A PostgreSQL server and a broker of this test's own."""
    pgdata = tmp_path / "pg"
    url = start_postgres(pgdata)
    broker = EmbeddedBroker()
    broker.start()
    try:
        yield pgdata, url, broker
    finally:
        broker.stop()
        stop_postgres(pgdata)


async def served(stack: Stack, deployment_id: str) -> None:
    """`/infer`, `/predictions` and `/predict` answer 200, each within FAST_S."""
    for path, body in (
        ("/models/churn/v1/infer", CLEAN),
        ("/models/churn/v1/predictions", [CLEAN, CLEAN]),
        (f"/predict/{deployment_id}", CLEAN),
    ):
        r, took = await timed(stack.client.post(path, json=body))
        assert r.status_code == 200, (path, r.text)
        assert took < FAST_S, (path, took)


async def ready_and_deployed(stack: Stack) -> str:
    """`churn` READY and deployed; served once, so it is in memory; the deployment id."""
    await stack.ready_model("churn")
    r = await stack.client.post("/models/churn/deploy", json={})
    assert r.status_code == 202, r.text
    deployment_id: str = r.json()["deployment_id"]

    async def active() -> bool:
        return (await stack.client.post(f"/predict/{deployment_id}", json=CLEAN)).status_code == 200

    await until(active)
    await served(stack, deployment_id)
    return deployment_id


def unavailable(r: httpx.Response) -> dict[str, Any]:
    """A 503 `service_unavailable` with `Retry-After`: its error object."""
    err = error_of(r, 503, "service_unavailable")
    assert int(r.headers["retry-after"]) >= 1
    return err


async def test_a_frozen_database_gives_fast_503s_while_models_serve_then_recovers(
    tmp_path: Path,
) -> None:
    async with own_services(tmp_path) as (pgdata, url, broker):
        settings = settings_for(url, broker.bootstrap_servers, tmp_path / "data")
        async with platform_stack(settings) as stack:
            deployment_id = await ready_and_deployed(stack)
            assert stack.app is not None
            platform: Platform = stack.app.state.platform
            # The postmaster alone: pooled connections still answer, nothing can connect.
            with frozen(postgres_pids(pgdata)[:1]):
                r, took = await timed(stack.client.get("/health"))
                assert took < 2.0, took
                assert r.status_code == 503 and r.json()["database"] == "down", r.text
                await served(stack, deployment_id)
            with frozen(postgres_pids(pgdata)):
                r, took = await timed(stack.client.get("/models"))
                assert unavailable(r)["details"] == {"dependency": "database"}
                assert took < FAST_S, took
                r, took = await timed(stack.client.get("/health"))
                assert took < 2.0, took
                assert r.status_code == 503
                assert r.json()["database"] == "down" and r.json()["kafka"] == "ok"
                r, took = await timed(
                    stack.client.patch("/models/churn", json={"description": "frozen"})
                )
                unavailable(r)
                assert took < FAST_S, took
                await served(stack, deployment_id)
                # Once the LISTEN connection is known lost, nothing is fresh: still served.
                await until(lambda: _true(not platform.watcher.alive), 15.0)
                await served(stack, deployment_id)

            async def healthy() -> bool:
                return (await stack.client.get("/health")).status_code == 200

            await until(healthy)
            await until(lambda: _true(platform.watcher.alive), 15.0)
            r = await stack.client.patch("/models/churn", json={"description": "thawed"})
            assert r.status_code == 200, r.text  # the verdict was heard: LISTEN is back
            assert (await stack.client.get("/models/churn")).json()["description"] == "thawed"
            await served(stack, deployment_id)


async def test_a_frozen_broker_gives_503_with_retry_after_while_models_serve_then_recovers(
    tmp_path: Path,
) -> None:
    async with own_services(tmp_path) as (_pgdata, url, broker):
        settings = settings_for(url, broker.bootstrap_servers, tmp_path / "data")
        async with platform_stack(settings) as stack:
            deployment_id = await ready_and_deployed(stack)
            assert broker.proc is not None
            with frozen([broker.proc.pid]):
                # In flight while the broker is frozen: stored, waiting for the broker.
                in_flight = asyncio.create_task(
                    stack.client.patch("/models/churn", json={"tags": ["in-flight"]})
                )
                r, took = await timed(stack.client.get("/health"))
                assert took < 2.0, took
                assert r.status_code == 503
                assert r.json()["kafka"] == "down" and r.json()["database"] == "ok", r.json()
                await served(stack, deployment_id)
                first = await in_flight
                # Acknowledged as stored (202, applied once the broker is back) or refused.
                assert first.status_code in (202, 503), first.text
                if first.status_code == 503:
                    unavailable(first)
                # Once the broker is known down, writes are refused at once, nothing stored.
                r, took = await timed(stack.client.patch("/models/churn", json={"tags": ["x"]}))
                assert unavailable(r)["details"]["dependency"] == "event_log"
                assert took < FAST_S, took
                r, took = await timed(stack.client.get("/health"))
                assert took < 2.0 and r.json()["kafka"] == "down", (took, r.text)

            async def healthy() -> bool:
                return (await stack.client.get("/health")).status_code == 200

            await until(healthy)
            r = await stack.client.patch("/models/churn", json={"description": "thawed"})
            assert r.status_code == 200, r.text
            model = (await stack.client.get("/models/churn")).json()
            assert model["description"] == "thawed"
            # Nothing acknowledged was lost; what was refused never took effect.
            assert model["tags"] == (["in-flight"] if first.status_code == 202 else [])
            await served(stack, deployment_id)


async def _true(value: bool) -> bool:
    return value


async def test_a_locked_table_gives_a_503_within_the_bound_then_serves(settings: Settings) -> None:
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        assert (await stack.client.get("/models")).status_code == 200
        locker = await asyncpg.connect(settings.database_url)
        try:
            async with locker.transaction():
                await locker.execute("LOCK TABLE models IN ACCESS EXCLUSIVE MODE")
                r, took = await timed(stack.client.get("/models"))
                assert unavailable(r)["details"] == {"dependency": "database"}
                assert took < FAST_S, took
        finally:
            await locker.close()
        assert (await stack.client.get("/models")).status_code == 200
