"""The local executor against real builds in real processes: outcomes, progress, and
every way a build's process can end without taking the caller down."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from intentml.infra.builds import BuildJob, Cancelled, Failed, Trained
from intentml.infra.builds.local import LocalExecutor
from intentml.ml.train import TrainingSpec
from tests.data import churn_rows, to_csv


def _job(tmp_path: Path, name: str, dataset: Path, target: str = "churned") -> BuildJob:
    return BuildJob(
        job_id=f"job_{name}",
        dataset=str(dataset),
        fmt="csv",
        artifact_dir=str(tmp_path / name),
        spec=TrainingSpec(target=target),
    )


def _csv(tmp_path: Path, rows: int = 200) -> Path:
    path = tmp_path / "churn.csv"
    path.write_bytes(to_csv(churn_rows(rows)))
    return path


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset whose build takes seconds on any machine: long enough to be stopped
    within the milliseconds after its process starts."""
    path = tmp_path_factory.mktemp("big") / "churn.csv"
    path.write_bytes(to_csv(churn_rows(60_000)))
    return path


class _Started:
    """A progress callback that says when the build's process first spoke."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __call__(self, percent: int, line: str) -> None:
        self.event.set()


async def _running(executor: LocalExecutor, job: BuildJob) -> tuple[asyncio.Task[object], int]:
    started = _Started()
    task: asyncio.Task[object] = asyncio.create_task(executor.run(job, started))
    await started.event.wait()
    pid = executor.pid(job.job_id)
    assert pid is not None
    return task, pid


async def test_a_build_runs_in_its_own_process_and_reports_progress(tmp_path: Path) -> None:
    executor = LocalExecutor(capacity=2, threads=1, memory_limit_mb=None, timeout_s=None)
    lines: list[tuple[int, str]] = []
    job = _job(tmp_path, "ok", _csv(tmp_path))
    outcome = await executor.run(job, lambda pct, line: lines.append((pct, line)))
    assert isinstance(outcome, Trained), outcome
    assert outcome.result.task == "binary"
    assert (tmp_path / "ok" / "model.txt").exists()
    assert any("loaded 200 rows" in line for _, line in lines)
    # A user's mistake is a build failure with its code, from the child.
    bad = await executor.run(_job(tmp_path, "bad", _csv(tmp_path), target="nope"), print)
    assert isinstance(bad, Failed) and bad.code == "target_missing"


async def test_a_killed_build_fails_cleanly_and_the_next_one_runs(
    tmp_path: Path, big_csv: Path
) -> None:
    executor = LocalExecutor(capacity=2, threads=1, memory_limit_mb=None, timeout_s=None)
    job = _job(tmp_path, "killed", big_csv)
    running, pid = await _running(executor, job)
    os.kill(pid, signal.SIGKILL)
    outcome = await running
    assert isinstance(outcome, Failed) and outcome.code == "build_crashed"
    assert "killed by SIGKILL" in outcome.message
    after = await executor.run(_job(tmp_path, "after", _csv(tmp_path)), print)
    assert isinstance(after, Trained)


async def test_cancel_timeout_and_memory_limit_stop_the_process(
    tmp_path: Path, big_csv: Path
) -> None:
    executor = LocalExecutor(capacity=3, threads=1, memory_limit_mb=None, timeout_s=None)
    job = _job(tmp_path, "cancel", big_csv)
    running, pid = await _running(executor, job)
    assert executor.cancel(job.job_id, "cancelled by key_1")
    assert await running == Cancelled("cancelled by key_1")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone, and reaped
    assert not executor.cancel(job.job_id, "again")

    timed = LocalExecutor(capacity=1, threads=1, memory_limit_mb=None, timeout_s=0.5, poll_s=0.05)
    late = await timed.run(_job(tmp_path, "late", big_csv), print)
    assert isinstance(late, Failed) and late.code == "build_timeout"
    assert "INTENTML_BUILD_TIMEOUT_S" in late.message

    # A ceiling below what the trainer's own imports take: stopped at once.
    small = LocalExecutor(capacity=1, threads=1, memory_limit_mb=20, timeout_s=None, poll_s=0.05)
    hungry = await small.run(_job(tmp_path, "hungry", big_csv), print)
    assert isinstance(hungry, Failed) and hungry.code == "build_out_of_memory"
    assert "INTENTML_BUILD_MEMORY_MB" in hungry.message
