"""The trainer under at-least-once delivery: one request, one version, whatever happens."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg

from consumers.trainer import TrainerHandler, executor_for
from consumers.worker import Worker, WorkerContext
from intentml.config import Settings
from intentml.events.commands import submit
from intentml.events.envelope import make_event
from intentml.events.types import ModelCreated, TrainingRequest
from tests.data import churn_rows, to_csv
from tests.stack import GatedExecutor, Stack, platform_stack


async def test_same_request_delivered_twice_gives_one_version(settings: Settings) -> None:
    async with platform_stack(settings, trainer=False) as stack:
        up = await stack.client.post(
            "/uploads", files={"file": ("c.csv", to_csv(churn_rows(300)), "text/csv")}
        )
        assert up.status_code == 201, up.text
        # Two trainers in two groups: both receive the same ModelCreated request.
        handlers = [TrainerHandler(settings), TrainerHandler(settings)]
        workers = [
            Worker(
                WorkerContext(f"trainer{i}", stack.pool, stack.log, stack.watcher, stack.stop),
                h,
                settings.kafka_bootstrap_servers,
                settings.topic,
                group_id=f"dup{i}",
            )
            for i, h in enumerate(handlers)
        ]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            created = await stack.client.post(
                "/models/churn",
                json={
                    "intent": "Predict churn",
                    "upload_id": up.json()["upload_id"],
                },
            )
            assert created.status_code == 202, created.text
            status = await stack.wait_status("churn")
            assert status["status"] == "READY", status

            # A third delivery after the verdict, e.g. a trainer whose group lost its offsets.
            late = TrainerHandler(settings)
            late_worker = Worker(
                WorkerContext("late", stack.pool, stack.log, stack.watcher, stack.stop),
                late,
                settings.kafka_bootstrap_servers,
                settings.topic,
                group_id="late",
            )
            late_task = asyncio.create_task(late_worker.run())
            tasks.append(late_task)
            await _consumed_everything(late_worker, stack.pool)
            assert late.builds == 0
        finally:
            stack.stop.set()
            await asyncio.gather(*tasks)

        assert sum(h.builds for h in handlers) in (1, 2)
        assert await stack.pool.fetchval("SELECT count(*) FROM versions") == 1
        trained = await stack.pool.fetch(
            "SELECT accepted FROM events WHERE type = 'VersionTrained'"
        )
        assert [r["accepted"] for r in trained].count(True) == 1
        assert len(trained) == sum(h.builds for h in handlers)
        ready = await stack.pool.fetchval(
            "SELECT count(*) FROM events WHERE type = 'VersionReady' AND accepted"
        )
        assert ready == 1


async def _consumed_everything(worker: Worker, stack_pool: asyncpg.Pool) -> None:
    """Wait until the worker's group has committed everything the projector has seen."""
    consumer = worker.consumer
    while True:
        projected = {
            r["partition"]: r["next_offset"]
            for r in await stack_pool.fetch("SELECT partition, next_offset FROM projection_offsets")
        }
        assignment = consumer.assignment()
        if assignment:
            committed = {tp.partition: await consumer.committed(tp) or 0 for tp in assignment}
            if all(committed.get(p, 0) >= n for p, n in projected.items()):
                return
        await asyncio.sleep(0.05)  # nothing to block on: group commits are polled


async def test_a_forged_request_with_a_path_in_an_id_fails_its_build(settings: Settings) -> None:
    """Ids reach file paths; one that is not a plain name ends the build, not the worker."""
    async with platform_stack(settings) as stack:
        forged = ModelCreated(
            model_id="model_forged",
            name="forged",
            intent="Predict churn",
            training=TrainingRequest(
                job_id="job_forged",
                version=1,
                version_id="ver_forged",
                upload_id="../../etc",
                dataset_format="csv",
                intent="Predict churn",
                target="churned",
                target_reason="forged",
            ),
        )
        outcome = await submit(
            stack.log,
            stack.watcher,
            stack.pool,
            make_event(forged, account_id="default", model_name="forged", actor="test"),
            wait_s=30,
        )
        assert outcome.applied and outcome.accepted, outcome
        status = await stack.wait_status("forged")
        assert status["status"] == "ERROR"
        assert status["error"]["code"] == "invalid_request"
        assert "upload id" in status["error"]["message"]
        # The trainer is still alive: a real model builds after it.
        await stack.ready_model("churn")


async def _status_when(
    stack: Stack, ready: Callable[[dict[str, Any]], bool], timeout_s: float = 60.0
) -> dict[str, Any]:
    """Poll the status endpoint, as a client would, until `ready(status)`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        r = await stack.client.get("/models/churn/v1/status")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if ready(body):
            return body
        assert asyncio.get_running_loop().time() < deadline, f"still {body}"
        await asyncio.sleep(0.05)  # a build offers nothing to block on


async def test_a_build_whose_trainer_was_lost_restarts_visibly(settings: Settings) -> None:
    async with platform_stack(settings, trainer=False) as stack:

        def trainer(handler: TrainerHandler, group: str) -> Worker:
            ctx = WorkerContext("trainer", stack.pool, stack.log, stack.watcher, stack.stop)
            return Worker(ctx, handler, settings.kafka_bootstrap_servers, settings.topic, group)

        lost = trainer(TrainerHandler(settings), "first")
        lost_run = asyncio.create_task(lost.run())
        upload = await stack.upload(churn_rows(600))
        r = await stack.client.post(
            "/models/churn",
            json={"intent": "Predict churn", "upload_id": upload, "max_iterations": 20},
        )
        assert r.status_code == 202, r.text
        before = await _status_when(stack, lambda s: s["build_progress"] > 10)
        assert (before["status"], before["attempt"]) == ("BUILDING", 1)
        # The trainer is gone mid-build: nothing it did is committed to its group.
        for task, _ in list(lost.tasks.values()):
            task.cancel()
        lost_run.cancel()
        await asyncio.gather(lost_run, *(t for t, _ in lost.tasks.values()), return_exceptions=True)

        # Another trainer gets the request again. (Its own group: the lost one's group
        # would hand the partitions on only after a rebalance, 15-20 s here; what the new
        # trainer does is the same.) Its executor waits at a gate, so the restarted build
        # is seen before it makes any progress.
        gated = GatedExecutor(executor_for(settings))
        handler = TrainerHandler(settings, executor=gated)
        second = asyncio.create_task(trainer(handler, "second").run())
        try:
            with gated.held():
                restarted = await _status_when(stack, lambda s: s["attempt"] == 2)
                assert (restarted["status"], restarted["build_progress"]) == ("BUILDING", 1)
                assert restarted["build_progress"] < before["build_progress"]
            done = await stack.wait_status("churn")
            assert (done["status"], done["attempt"]) == ("READY", 2)
        finally:
            stack.stop.set()
            await second
        logs = (await stack.client.get("/models/build-logs", params={"model_name": "churn"})).json()
        messages = [line["message"] for line in logs["logs"]]
        restart = next(m for m in messages if m.startswith("build restarted"))
        assert restart == (
            f"build restarted (attempt 2) on {handler.worker_name}: the previous worker was "
            "lost before it finished; progress starts over"
        )
        assert messages.index(restart) > messages.index(
            next(m for m in messages if m.startswith("build started on"))
        )
