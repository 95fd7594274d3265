"""Builds against the real stack: small ones never wait behind a big one, a build's
crash stays its own, and a trainer restart loses nothing and builds nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import msgspec

from consumers.trainer import TrainerHandler, executor_for
from consumers.worker import Worker, WorkerContext
from intentml.config import Settings
from tests.data import churn_rows
from tests.stack import GatedExecutor, Stack, platform_stack


async def _status(stack: Stack, model: str) -> dict[str, Any]:
    body: dict[str, Any] = (await stack.client.get(f"/models/{model}/v1/status")).json()
    return body


async def _create(stack: Stack, name: str, upload_id: str, iterations: int) -> str:
    r = await stack.client.post(
        f"/models/{name}",
        json={"intent": "Predict churn", "upload_id": upload_id, "max_iterations": iterations},
    )
    assert r.status_code == 202, r.text
    job_id: str = r.json()["job_id"]
    return job_id


async def test_small_builds_finish_while_a_big_one_runs(settings: Settings) -> None:
    # The big table is over the small lane's size; the small ones are far under it.
    lanes = msgspec.structs.replace(settings, build_concurrency=2, build_small_cells=50_000)
    async with platform_stack(lanes) as stack:
        big = await stack.upload(churn_rows(150_000))
        small = await stack.upload(churn_rows(300))
        await _create(stack, "big", big, 50)
        await stack.wait_status("big", final=("BUILDING",))
        for i in range(8):
            await _create(stack, f"small{i}", small, 2)
        for i in range(8):
            assert (await stack.wait_status(f"small{i}", timeout_s=300))["status"] == "READY"
        # All eight went through the small lane's slot while the big build held the other.
        assert (await _status(stack, "big"))["status"] == "BUILDING"


async def test_a_killed_build_fails_alone_and_the_next_one_builds(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        upload_id = await stack.upload(churn_rows(60_000))
        job_id = await _create(stack, "doomed", upload_id, 20)
        await stack.wait_status("doomed", final=("BUILDING",))
        pid = stack.local_executor().pid(job_id)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        failed = await stack.wait_status("doomed")
        assert failed["status"] == "ERROR" and failed["error"]["code"] == "build_crashed"
        assert "killed by SIGKILL" in failed["error"]["message"]
        ok = await stack.upload(churn_rows(300))
        await _create(stack, "next", ok, 2)
        assert (await stack.wait_status("next"))["status"] == "READY"


async def test_a_trainer_restart_loses_no_build_and_builds_none_twice(settings: Settings) -> None:
    one = msgspec.structs.replace(settings, build_concurrency=1)
    async with platform_stack(one, trainer=False) as stack:
        group = f"trainers-{settings.topic}"

        def trainer(stop: asyncio.Event) -> tuple[TrainerHandler, Worker]:
            handler = TrainerHandler(one, executor=GatedExecutor(executor_for(one)))
            ctx = WorkerContext("trainer", stack.pool, stack.log, stack.watcher, stop)
            return handler, Worker(ctx, handler, one.kafka_bootstrap_servers, one.topic, group)

        first_stop = asyncio.Event()
        first, first_worker = trainer(first_stop)
        gated = first.executor
        assert isinstance(gated, GatedExecutor)
        upload_id = await stack.upload(churn_rows(300))
        with gated.held():
            running = asyncio.create_task(first_worker.run())
            names = ["m0", "m1", "m2"]
            for name in names:
                await _create(stack, name, upload_id, 2)
            await stack.wait_status("m0", final=("BUILDING",))
            await stack.wait_queued("m2")
            # The trainer stops with one build started and two queued.
            first_stop.set()
            await running
        second_stop = asyncio.Event()
        _, second_worker = trainer(second_stop)
        again = asyncio.create_task(second_worker.run())
        try:
            for name in names:
                assert (await stack.wait_status(name, timeout_s=120))["status"] == "READY"
        finally:
            second_stop.set()
            await again
        trained = await stack.pool.fetch(
            "SELECT model_name, accepted FROM events WHERE type = 'VersionTrained'"
        )
        assert sorted(t["model_name"] for t in trained if t["accepted"]) == names
        assert all(t["accepted"] for t in trained), "a build ran twice"
