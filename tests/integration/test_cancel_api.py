"""`POST /models/{model_name}/{model_version}/cancel` against the real stack: a queued
build leaves the queue, a running one's process is killed, and either way the version
is CANCELLED, final, with who asked and why; a final version has nothing to cancel."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import msgspec
import pytest

from consumers.trainer import TrainerHandler
from consumers.worker import WorkerContext
from intentml.config import Settings
from tests.data import CHURN_INTENT, churn_rows
from tests.stack import Stack, error_of, platform_stack

FINAL = ("READY", "ERROR", "CANCELLED")


async def create(stack: Stack, name: str, upload: str, iterations: int = 2) -> str:
    """Create model `name`; its v1's job id."""
    r = await stack.client.post(
        f"/models/{name}",
        json={"intent": CHURN_INTENT, "upload_id": upload, "max_iterations": iterations},
    )
    assert r.status_code == 202, r.text
    job_id: str = r.json()["job_id"]
    return job_id


async def event_types(stack: Stack, model_name: str) -> list[tuple[str, bool]]:
    """The model's events in log order, with their verdicts."""
    rows = await stack.pool.fetch(
        'SELECT type, accepted FROM events WHERE model_name = $1 ORDER BY partition, "offset"',
        model_name,
    )
    return [(row["type"], row["accepted"]) for row in rows]


async def log_lines(stack: Stack, job_id: str) -> list[str]:
    r = await stack.client.get("/models/build-logs", params={"job_id": job_id, "limit": 1000})
    assert r.status_code == 200, r.text
    return [line["message"] for line in r.json()["logs"]]


async def until(what: str, check: Any, timeout_s: float = 60.0) -> None:
    """Poll `check()` (awaitable) until it is true, as a client would."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not {what} after {timeout_s}s"
        await asyncio.sleep(0.05)


async def test_cancel_a_pending_build_and_what_cannot_be_cancelled(settings: Settings) -> None:
    one_slot = msgspec.structs.replace(settings, build_concurrency=1)
    async with platform_stack(one_slot) as stack:
        c = stack.client
        upload = await stack.upload(churn_rows(300))
        with stack.hold_trainer():
            first = await create(stack, "first", upload)
            await stack.wait_status("first", final=("BUILDING",))  # the one slot, held
            job_id = await create(stack, "churn", upload)
            await stack.wait_queued("churn")
            r = await c.post("/models/churn/v1/cancel", json={"reason": "wrong data"})
            assert r.status_code == 202, r.text
            assert r.headers["location"] == "/models/churn/v1/status"
            body = r.json()
            assert body["model_version"] == "v1"
            # the trainer may have stopped it already; until then, the status says so
            if body["status"] != "CANCELLED":
                assert body["status"] == "PENDING", body
                assert body["status_reason"].startswith("cancel requested by key_"), body
                assert body["queue_position"] is None
            # the first request stops it: a second one has nothing left to do
            err = error_of(await c.post("/models/churn/v1/cancel"), 409, "conflict")
            assert "v1" in err["message"]

            # a queued build is cancelled at once, while the slot is still held
            status = await stack.wait_status("churn", "v1", final=FINAL)
            assert status["status"] == "CANCELLED", status
            assert status["error"]["code"] == "cancelled"
            assert status["error"]["message"].startswith("cancelled by key_")
            assert status["error"]["message"].endswith(": wrong data")
            assert (status["attempt"], status["build_progress"]) == (0, 0)
            # and a started one that waits to run, too
            r = await c.post("/models/first/v1/cancel")
            assert r.status_code == 202, r.text
            assert (await stack.wait_status("first", final=FINAL))["status"] == "CANCELLED"

        async def dequeued() -> bool:
            row = await stack.pool.fetchrow("SELECT 1 FROM build_queue WHERE job_id = $1", job_id)
            return row is None

        await until("out of the build queue", dequeued)
        # builds run again; the cancelled ones never did
        await stack.ready_model("other")
        assert (await stack.wait_status("churn", "v1", final=FINAL))["status"] == "CANCELLED"
        types = await event_types(stack, "churn")
        assert ("BuildCancelRequested", True) in types and ("BuildCancelled", True) in types
        assert not any(t == "BuildStarted" for t, _ in types), types
        assert ("BuildCancelRequested", False) not in types  # the 409 was a pre-check
        assert ("VersionTrained", True) not in await event_types(stack, "first")
        lines = await log_lines(stack, job_id)
        assert any(line.startswith("cancel requested by key_") for line in lines), lines
        assert any(line.startswith("build cancelled: cancelled by key_") for line in lines)
        assert any(line.startswith("build cancelled: ") for line in await log_lines(stack, first))
        listed = (await c.get("/models", params={"status": "CANCELLED"})).json()["models"]
        assert sorted(m["model_name"] for m in listed) == ["churn", "first"]

        # final versions: nothing to cancel; unknown ones: 404
        err = error_of(await c.post("/models/churn/v1/cancel"), 409, "conflict")
        assert err["message"] == "v1 is already CANCELLED; there is nothing to cancel"
        err = error_of(await c.post("/models/other/v1/cancel", json={}), 409, "conflict")
        assert err["message"] == "v1 is already READY; there is nothing to cancel"
        error_of(await c.post("/models/churn/v9/cancel"), 404, "not_found")
        error_of(await c.post("/models/nope/v1/cancel"), 404, "not_found")
        error_of(await c.post("/models/churn/v1/cancel", json={"why": 1}), 400, "invalid_request")
        r = await c.post("/models/churn/v1/cancel", json={"reason": "x" * 501})
        assert r.status_code in (400, 422), r.text


async def test_cancel_a_running_build_kills_its_process(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        executor = stack.local_executor()
        upload = await stack.upload(churn_rows(60_000), "big.csv")
        job_id = await create(stack, "big", upload, iterations=20)

        async def running() -> bool:
            return executor.pid(job_id) is not None

        await until("running", running)
        pid = executor.pid(job_id)
        assert pid is not None
        # Its `BuildStarted` went out before the process started; the read model follows.
        status = await stack.wait_status("big", "v1", final=("BUILDING",))
        assert status["attempt"] == 1, status

        started = asyncio.get_running_loop().time()
        r = await c.post("/models/big/v1/cancel")
        assert r.status_code == 202, r.text
        assert r.json()["status"] in ("BUILDING", "CANCELLED"), r.json()
        status = await stack.wait_status("big", "v1", final=FINAL, timeout_s=30)
        took = asyncio.get_running_loop().time() - started
        assert status["status"] == "CANCELLED", status
        assert status["error"] == {"code": "cancelled", "message": status["error"]["message"]}
        assert status["error"]["message"].startswith("cancelled by key_")
        # 60,000 rows and 20 candidates take far longer than this; the process is gone
        assert took < 10, took
        assert status["build_progress"] < 90, status
        with pytest.raises(ProcessLookupError):  # killed, and reaped by the executor
            os.kill(pid, 0)
        assert executor.pid(job_id) is None
        types = await event_types(stack, "big")
        assert ("VersionTrained", True) not in types, types
        lines = await log_lines(stack, job_id)
        assert any(line.startswith("build cancelled: ") for line in lines), lines

        # the model builds again: a small retrain of the same model is READY
        small = await stack.upload(churn_rows(300), "small.csv")
        r = await c.post("/models/big/retrain", json={"upload_id": small, "max_iterations": 2})
        assert r.status_code == 202, r.text
        assert r.json()["new_version"] == "v2"
        v2 = await stack.wait_status("big", "v2")
        assert v2["status"] == "READY", v2
        assert (await c.get("/models/big/v1/status")).json()["status"] == "CANCELLED"


async def test_a_cancel_never_reported_is_ended_by_the_next_trainer(settings: Settings) -> None:
    """The cancel was accepted while no trainer ran (or the one holding the build died):
    the trainer given the partition ends the build, and builds nothing."""
    async with platform_stack(settings, trainer=False) as stack:
        c = stack.client
        upload = await stack.upload(churn_rows(300))
        r = await c.post("/models/churn", json={"intent": CHURN_INTENT, "upload_id": upload})
        assert r.status_code == 202, r.text
        r = await c.post("/models/churn/v1/cancel", json={"reason": "not now"})
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "PENDING"
        partitions = {
            row["partition"]
            for row in await stack.pool.fetch(
                "SELECT partition FROM events WHERE model_name = $1", "churn"
            )
        }
        trainer = TrainerHandler(settings)
        ctx = WorkerContext("trainer", stack.pool, stack.log, stack.watcher, stack.stop)
        try:
            await trainer.assigned(ctx, partitions)
            status = await stack.wait_status("churn", "v1", final=FINAL)
        finally:
            await trainer.close()
        assert status["status"] == "CANCELLED", status
        assert status["error"]["message"].endswith(": not now")
        assert trainer.builds == 0
