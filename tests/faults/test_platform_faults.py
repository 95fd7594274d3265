"""Faults against the whole platform as `make run` starts it, under a load of writes.

Each test kills (SIGKILL) or freezes (SIGSTOP, then SIGCONT) one process of a running
`intentml up` while three clients write, then checks what every fault must leave:
nothing acknowledged lost, nothing applied twice, every chain intact (archive and log),
no 500s and no hangs (`tests.faults.harness.check_nothing_lost`).

The moment of each fault is drawn from a seeded generator (`FAULT_SEED`, printed on
failure), as a number of acknowledged writes to wait for: random, yet the same run in CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from intentml.infra.embedded import free_port
from tests.data import CHURN_INTENT, churn_rows, to_csv
from tests.faults.harness import (
    Load,
    UpProcess,
    accepted_writes,
    alive,
    check_nothing_lost,
    loaded,
    wait_applied,
    wait_healthy,
)

SEED = int(os.environ.get("FAULT_SEED", "12"))
MODEL = "churn"


@pytest.fixture(scope="module")
async def up(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[UpProcess]:
    """One platform for the module's faults, with a model to PATCH."""
    platform = UpProcess(Path(tmp_path_factory.mktemp("faults")) / "data", free_port())
    platform.start()
    try:
        platform.use_unlimited_key()
        async with platform.client() as c:
            data = to_csv(churn_rows())
            upload = await c.post("/uploads", files={"file": ("churn.csv", data, "text/csv")})
            assert upload.status_code == 201, upload.text
            body = {"intent": CHURN_INTENT, "upload_id": upload.json()["upload_id"]}
            created = await c.post(f"/models/{MODEL}", json=body)
            assert created.status_code == 202, created.text
        yield platform
    finally:
        platform.kill_all()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """The fault moments of one test: the seed and the test's name."""
    return random.Random(f"{SEED}:{request.node.name}")


async def kill_under_load(up: UpProcess, role: str, rng: random.Random, times: int = 1) -> Load:
    """SIGKILL `role` `times` times at random moments of a write load; the load."""
    load = Load(MODEL)
    async with loaded(up, load):
        for _ in range(times):
            await load.until_acked(rng.randint(3, 25))
            pid = up.signal(role, signal.SIGKILL)
            await wait_restarted(up, role, pid)
        await load.until_acked(10)
    return load


async def wait_restarted(up: UpProcess, role: str, old_pid: int, timeout_s: float = 60.0) -> None:
    """Wait until `role` runs again as a new process and the platform is healthy."""
    deadline = time.monotonic() + timeout_s
    while up.pids().get(role, old_pid) == old_pid or alive(old_pid):
        assert time.monotonic() < deadline, f"{role} was not restarted:\n{''.join(up.output)}"
        await asyncio.sleep(0.1)  # watching /proc for the supervisor's new child
    await wait_healthy(up, timeout_s)


async def test_the_load_alone_loses_nothing(up: UpProcess) -> None:
    """The control: the checks hold without a fault (or every other test would be moot)."""
    load = Load(MODEL)
    async with loaded(up, load):
        await load.until_acked(30)
    await wait_applied(up, load)
    check_nothing_lost(up, load)
    assert load.acks >= 30 and not load.refused


@pytest.mark.parametrize("role", ["projector", "api", "trainer", "deployer", "broker"])
async def test_kill_9_of_a_process_under_load(up: UpProcess, rng: random.Random, role: str) -> None:
    load = await kill_under_load(up, role, rng, times=2 if role == "api" else 1)
    await wait_applied(up, load)
    check_nothing_lost(up, load)


@pytest.mark.parametrize("role", ["postgres", "broker"])
async def test_a_frozen_service_degrades_then_recovers(
    up: UpProcess, rng: random.Random, role: str
) -> None:
    load = Load(MODEL)
    async with loaded(up, load), up.client() as probe:
        await load.until_acked(rng.randint(3, 15))
        up.signal(role, signal.SIGSTOP)
        try:
            await load.until_refused(503)
            for _ in range(3):  # /health answers in time and names what is down
                started = time.monotonic()
                health = await probe.get("/health")
                assert time.monotonic() - started < 2.5
                assert health.status_code == 503
                down = "database" if role == "postgres" else "kafka"
                assert health.json()[down] == "down", health.json()
        finally:
            up.signal(role, signal.SIGCONT)
        await wait_healthy(up)
        await load.until_acked(10)
    # Nothing waits longer than its bound: a write to a stalled broker waits at most 5 s for
    # the acknowledgement (then 202: stored, produced later); with the database stalled, a
    # statement at most 1 s (503), and a write whose event was in the log before the
    # freeze at most the command wait, 5 s, for a verdict the projector cannot give (202).
    assert load.slowest < 7.0, load.slowest
    assert load.refused[503] > 0, load.refused
    await wait_applied(up, load)
    check_nothing_lost(up, load)


async def test_text_postgresql_cannot_store_is_refused_and_the_platform_goes_on(
    up: UpProcess,
) -> None:
    async with up.client() as c:
        for body in ({"description": "a\u0000b"}, {"tags": ["ok", "x\u0000"]}):
            r = await c.patch(f"/models/{MODEL}", json=body)
            assert r.status_code == 400, r.text
            assert r.json()["error"]["code"] == "invalid_request"
        renamed = await c.patch(f"/models/{MODEL}", json={"description": "after the NUL"})
        assert renamed.status_code == 200, renamed.text
    assert (await wait_healthy(up)) < 2.0


async def test_slow_clients_do_not_hold_the_api(up: UpProcess) -> None:
    # Bodies that stop short of their Content-Length, held open.
    stalled = []
    for _ in range(50):
        reader, writer = await asyncio.open_connection("127.0.0.1", up.port)
        writer.write(
            f"PATCH /models/{MODEL} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {up.key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
        )
        await writer.drain()
        stalled.append((reader, writer))
    async with up.client() as c:
        r = await c.patch(f"/models/{MODEL}", json={"description": "served meanwhile"})
        assert r.status_code == 200, r.text
    for reader, writer in stalled:  # the server closes them, whatever it answers first
        assert await asyncio.wait_for(reader.read(), 30.0) is not None
        writer.close()


async def wait_status(
    client: httpx.AsyncClient, model: str, wanted: tuple[str, ...], timeout_s: float = 120.0
) -> dict[str, Any]:
    """Poll a version's status, as a client does, until it is one of `wanted`."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(httpx.TransportError):
            r = await client.get(f"/models/{model}/v1/status")
            if r.status_code == 200 and r.json()["status"] in wanted:
                body: dict[str, Any] = r.json()
                return body
        assert time.monotonic() < deadline, f"{model} never reached {wanted}"
        await asyncio.sleep(0.1)  # a client polling the documented status endpoint


async def create_slow_model(client: httpx.AsyncClient, model: str) -> None:
    """A model whose build takes long enough to be interrupted, BUILDING on return."""
    data = to_csv(churn_rows(8_000, seed=3))
    upload = await client.post("/uploads", files={"file": ("big.csv", data, "text/csv")})
    assert upload.status_code == 201, upload.text
    body = {"intent": CHURN_INTENT, "upload_id": upload.json()["upload_id"], "max_iterations": 8}
    created = await client.post(f"/models/{model}", json=body)
    assert created.status_code == 202, created.text
    await wait_status(client, model, ("BUILDING",))


async def test_a_trainer_killed_mid_build_restarts_it_visibly(up: UpProcess) -> None:
    async with up.client() as c:
        await create_slow_model(c, "slow")
        pid = up.signal("trainer", signal.SIGKILL)
        await wait_restarted(up, "trainer", pid)
        status = await wait_status(c, "slow", ("READY", "ERROR"), timeout_s=240)
        assert status["status"] == "READY", status
        assert status["attempt"] == 2, status
        logs = (await c.get("/models/build-logs", params={"model_name": "slow"})).json()
        assert any("restarted (attempt 2)" in line["message"] for line in logs["logs"])
    verified = up.cli("events", "verify", "--model", "slow")
    assert verified.returncode == 0, verified.stderr


async def test_a_retried_command_with_its_idempotency_key_applies_once(up: UpProcess) -> None:
    async with up.client() as c:
        key = {"Idempotency-Key": f"retry-{time.time_ns()}"}
        body = {"description": "sent twice, applied once"}
        first = await c.patch(f"/models/{MODEL}", json=body, headers=key)
        # the client never saw the answer, and sends the same request again
        again = await c.patch(f"/models/{MODEL}", json=body, headers=key)
        assert first.status_code == again.status_code == 200, (first.text, again.text)
        assert again.content == first.content
        other = await c.patch(f"/models/{MODEL}", json={"description": "else"}, headers=key)
        assert other.status_code == 409, other.text
    accepted = accepted_writes(up)
    assert accepted["description", body["description"]] == 1


async def test_ctrl_c_mid_build_then_make_run_again(tmp_path: Path) -> None:
    first = UpProcess(tmp_path / "data", free_port())
    first.start()
    try:
        async with first.client() as c:
            await create_slow_model(c, "slow")
        assert first.stop() == 0  # Ctrl-C, in the middle of the build
        assert first.proc is not None
        left = [role for role, pid in first.pids().items() if role != "postgres" and alive(pid)]
        assert not left, left
    finally:
        first.kill_all()
    second = UpProcess(first.data_dir, first.port)
    second.start()
    try:
        second.key = first.key
        async with second.client() as c:
            status = await wait_status(c, "slow", ("READY", "ERROR"), timeout_s=240)
            assert status["status"] == "READY", status
        for source in ([], ["--source", "log"]):
            verified = second.cli("events", "verify", *source)
            assert verified.returncode == 0, verified.stderr
    finally:
        second.kill_all()
