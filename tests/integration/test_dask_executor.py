"""The Dask executor against a real `LocalCluster` of two worker processes: builds run
on the workers (each in a process of its own there), report progress, fail with their
code, stop on cancel, survive a worker's death as `build_crashed`, train across the
workers with `lightgbm.dask` over the threshold, read and write the S3 store from the
workers, and run the platform end to end."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import dask
import msgspec
import pytest
from distributed import Client, LocalCluster, Worker

from consumers.trainer import executor_for
from intentml.config import Settings
from intentml.domain.training_options import TrainingOptions
from intentml.infra.blobs import open_blob_store
from intentml.infra.builds import BuildJob, Cancelled, Failed, Trained
from intentml.infra.builds.dask import DaskExecutor
from intentml.infra.embedded import ObjectStore
from intentml.infra.storage import artifact_ref, upload_key
from intentml.ml.serving import LoadedModel
from intentml.ml.train import TrainingSpec
from tests.conftest import s3_env
from tests.data import CHURN_INTENT, NEGATIVE, POSITIVE, churn_rows, to_csv
from tests.stack import platform_stack

#: Every test of the module shares the cluster; a test that kills a worker waits for its
#: replacement before it ends.
WORKERS = 2


@pytest.fixture(scope="module")
def cluster(s3_server: ObjectStore) -> Iterator[LocalCluster]:
    """Two worker processes with one thread each, which reach the session's S3 server
    with the `AWS_*` variables a worker machine would have. The scheduler allows no
    worker failures, so a killed worker fails its build at once (rather than after
    `allowed-failures` restarts)."""
    env = s3_env(s3_server)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=WORKERS,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",
            env=env,
        )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A dataset whose build takes seconds: long enough to be stopped mid-build."""
    return to_csv(churn_rows(60_000))


def _upload(data_dir: Path, name: str, data: bytes) -> str:
    """A dataset in the data dir's store layout; its key."""
    key = upload_key("acct", f"u_{name}", "csv")
    path = data_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return key


def _job(name: str, dataset: str, target: str = "churned", cells: int = 0) -> BuildJob:
    return BuildJob(
        job_id=f"job_{name}",
        dataset=dataset,
        fmt="csv",
        artifact_dir=artifact_ref("acct", f"model_{name}", 1),
        spec=TrainingSpec(target=target),
        cells=cells,
    )


class _Lines:
    """A progress callback that keeps the lines and says when one matched."""

    def __init__(self, waiting_for: str = "loaded ") -> None:
        self.lines: list[str] = []
        self.waiting_for = waiting_for
        self.seen = asyncio.Event()

    def __call__(self, percent: int, line: str) -> None:
        self.lines.append(line)
        if self.waiting_for in line:
            self.seen.set()


def _executor(cluster: LocalCluster, data_dir: Path, **kwargs: object) -> DaskExecutor:
    return DaskExecutor(cluster.scheduler_address, data_dir=data_dir, **kwargs)  # type: ignore[arg-type]


async def test_a_build_runs_on_a_worker_with_progress_and_fails_with_its_code(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    executor = _executor(cluster, tmp_path)
    assert executor.capacity == WORKERS  # the cluster's threads
    try:
        lines = _Lines()
        job = _job("ok", _upload(tmp_path, "ok", to_csv(churn_rows(300))))
        outcome = await executor.run(job, lines)
        assert isinstance(outcome, Trained), outcome
        assert outcome.result.task == "binary"
        assert (tmp_path / job.artifact_dir / "model.txt").exists()
        assert lines.lines[0].startswith("running on Dask worker tcp://")
        assert any("loaded 300 rows" in line for line in lines.lines)
        assert lines.lines[-1].startswith("saved model")

        bad = await executor.run(_job("bad", job.dataset, target="nope"), print)
        assert isinstance(bad, Failed) and bad.code == "target_missing"
        missing = await executor.run(_job("missing", "uploads/acct/u_gone/data.csv"), print)
        assert isinstance(missing, Failed) and missing.code == "dataset_invalid"
    finally:
        await executor.close()


async def test_cancel_kills_the_build_on_its_worker(
    cluster: LocalCluster, tmp_path: Path, big_csv: bytes
) -> None:
    executor = _executor(cluster, tmp_path)
    try:
        job = _job("cancel", _upload(tmp_path, "big", big_csv))
        lines = _Lines()
        running = asyncio.create_task(executor.run(job, lines))
        await asyncio.wait_for(lines.seen.wait(), 60)
        assert executor.cancel(job.job_id, "cancelled by key_1")
        assert await asyncio.wait_for(running, 30) == Cancelled("cancelled by key_1")
        assert not executor.cancel(job.job_id, "again")
        assert not (tmp_path / job.artifact_dir).exists()
        # The worker is free again: the next build runs.
        after = _job("after", _upload(tmp_path, "small", to_csv(churn_rows(200))))
        assert isinstance(await executor.run(after, print), Trained)
        # A trainer that stops ends its running builds as interrupted.
        lines = _Lines()
        running = asyncio.create_task(executor.run(_job("closed", job.dataset), lines))
        await asyncio.wait_for(lines.seen.wait(), 60)
    finally:
        await executor.close()
    interrupted = await asyncio.wait_for(running, 30)
    assert isinstance(interrupted, Failed) and interrupted.code == "build_interrupted"


async def _replaced(client: Client, dead: str) -> None:
    """Wait until the nanny's new worker has replaced the `dead` one: the next tests have
    two workers again, none of them a stale entry."""
    for _ in range(600):
        workers = client.scheduler_info(n_workers=-1)["workers"]
        if len(workers) == WORKERS and dead not in workers:
            break
        await asyncio.sleep(0.1)
    await asyncio.to_thread(client.wait_for_workers, WORKERS, 60)
    assert dead not in client.scheduler_info(n_workers=-1)["workers"]


def _executing(dask_worker: Worker) -> int:
    return int(dask_worker.state.executing_count)


async def test_a_build_nobody_waits_for_anymore_stops_on_its_worker(
    cluster: LocalCluster, tmp_path: Path, big_csv: bytes
) -> None:
    """A trainer that dies leaves no build behind: its client is gone, the scheduler
    releases the task, and the task kills its build's process (Dask itself cannot
    interrupt it)."""
    executor = _executor(cluster, tmp_path)
    job = _job("orphan", _upload(tmp_path, "big", big_csv))
    lines = _Lines()
    running = asyncio.create_task(executor.run(job, lines))
    await asyncio.wait_for(lines.seen.wait(), 60)
    assert executor._client is not None
    await executor._client.close()  # as a trainer's death closes its connection
    outcome = await asyncio.wait_for(running, 30)
    assert isinstance(outcome, Failed) and outcome.code == "build_crashed", outcome
    with Client(cluster) as client:
        for _ in range(100):
            if not any(client.run(_executing).values()):
                break
            await asyncio.sleep(0.1)
        assert not any(client.run(_executing).values())
    assert not (tmp_path / job.artifact_dir).exists()


async def test_a_worker_killed_mid_build_fails_it_as_build_crashed(
    cluster: LocalCluster, tmp_path: Path, big_csv: bytes
) -> None:
    executor = _executor(cluster, tmp_path)
    with Client(cluster) as client:
        pids: dict[str, int] = client.run(os.getpid)
        busy = ""
        try:
            job = _job("killed", _upload(tmp_path, "big", big_csv))
            lines = _Lines()
            running = asyncio.create_task(executor.run(job, lines))
            await asyncio.wait_for(lines.seen.wait(), 60)
            [busy] = [w for w, keys in client.processing().items() if keys]
            os.kill(pids[busy], signal.SIGKILL)
            outcome = await asyncio.wait_for(running, 60)
            assert isinstance(outcome, Failed) and outcome.code == "build_crashed", outcome
            assert "worker" in outcome.message and "died" in outcome.message
        finally:
            await executor.close()
            await _replaced(client, busy)


async def test_a_build_whose_worker_died_restarts_on_another_within_allowed_failures(
    cluster: LocalCluster, tmp_path: Path, big_csv: bytes
) -> None:
    executor = _executor(cluster, tmp_path)
    scheduler = cluster.scheduler
    assert scheduler is not None
    scheduler.allowed_failures = 1  # the default is 3; the module's cluster allows none
    with Client(cluster) as client:
        pids: dict[str, int] = client.run(os.getpid)
        busy = ""
        try:
            quick = TrainingSpec(target="churned", options=TrainingOptions(max_iterations=1))
            job = msgspec.structs.replace(
                _job("restarted", _upload(tmp_path, "big", big_csv)), spec=quick
            )
            lines = _Lines()
            running = asyncio.create_task(executor.run(job, lines))
            await asyncio.wait_for(lines.seen.wait(), 60)
            [busy] = [w for w, keys in client.processing().items() if keys]
            os.kill(pids[busy], signal.SIGKILL)
            outcome = await asyncio.wait_for(running, 120)
            assert isinstance(outcome, Trained), outcome
            [again] = [line for line in lines.lines if line.startswith("restarted on")]
            assert "the previous worker was lost" in again and busy not in again
        finally:
            scheduler.allowed_failures = 0
            await executor.close()
            await _replaced(client, busy)


async def test_large_data_trains_across_the_workers_with_lightgbm_dask(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    executor = _executor(cluster, tmp_path, distributed_cells=1_000)
    try:
        rows = churn_rows(2_000)
        lines = _Lines()
        job = _job("wide", _upload(tmp_path, "wide", to_csv(rows)), cells=2_000 * len(rows[0]))
        outcome = await executor.run(job, lines)
        assert isinstance(outcome, Trained), outcome
        assert any("lightgbm.dask" in line and "2 Dask workers" in line for line in lines.lines)
        search = outcome.result.report.search
        assert search.strategy == "distributed" and "lightgbm.dask" in search.evaluation
        model = LoadedModel.load(tmp_path / job.artifact_dir)
        assert model.predict_one(POSITIVE) != model.predict_one(NEGATIVE)
    finally:
        await executor.close()


async def test_workers_read_the_upload_from_and_store_the_artifact_in_s3(
    cluster: LocalCluster, tmp_path: Path, store_url: str
) -> None:
    api = open_blob_store(Settings(data_dir=tmp_path / "api", store_url=store_url))
    source = tmp_path / "upload.csv"
    source.write_bytes(to_csv(churn_rows(300)))
    key = upload_key("acct", "u_s3", "csv")
    await api.put_file(key, source)
    trainer_disk = tmp_path / "trainer"
    executor = _executor(cluster, trainer_disk, store_url=store_url)
    try:
        job = _job("s3", key)
        outcome = await executor.run(job, print)
        assert isinstance(outcome, Trained), outcome
    finally:
        await executor.close()
    assert await api.exists(f"{job.artifact_dir}/model.txt")
    assert not trainer_disk.exists()  # the trainer's machine saw no data
    served = LoadedModel.load(await api.fetch_dir(job.artifact_dir))
    assert served.predict_one(POSITIVE)


async def test_the_platform_builds_on_the_cluster(
    cluster: LocalCluster, settings: Settings
) -> None:
    on_dask = msgspec.structs.replace(settings, dask_scheduler=cluster.scheduler_address)
    async with platform_stack(on_dask) as stack:
        c = stack.client
        upload_id = await stack.upload(churn_rows(300))
        r = await c.post("/models/churn", json={"intent": CHURN_INTENT, "upload_id": upload_id})
        assert r.status_code == 202, r.text
        assert (await stack.wait_status("churn"))["status"] == "READY"
        logs = (await c.get("/models/build-logs")).json()["logs"]
        assert any(line["message"].startswith("running on Dask worker") for line in logs), logs
        r = await c.post("/models/churn/v1/infer", json=POSITIVE)
        assert r.status_code == 200, r.text


async def test_the_settings_pick_the_dask_executor(cluster: LocalCluster, tmp_path: Path) -> None:
    env = {
        "INTENTML_DATA_DIR": str(tmp_path),
        "INTENTML_DASK_SCHEDULER": cluster.scheduler_address,
        "INTENTML_DASK_DISTRIBUTED_CELLS": "5000",
    }
    executor = executor_for(Settings.from_env(env))
    assert isinstance(executor, DaskExecutor)
    assert (executor.capacity, executor.distributed_cells) == (WORKERS, 5000)
    await executor.close()
    pinned = executor_for(Settings.from_env({**env, "INTENTML_BUILD_CONCURRENCY": "5"}))
    assert pinned.capacity == 5
    await pinned.close()
    assert not isinstance(executor_for(Settings(data_dir=tmp_path)), DaskExecutor)
