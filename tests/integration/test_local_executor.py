"""The local executor against real builds in real processes: outcomes, progress, and
every way a build's process can end without taking the caller down."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

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


def _hanging(tmp_path: Path) -> Path:
    """A dataset whose read never ends (a FIFO nobody writes): a build that runs until
    it is stopped, whatever the machine's speed."""
    fifo = tmp_path / "never.csv"
    os.mkfifo(fifo)
    return fifo


async def _until_running(executor: LocalExecutor, job_id: str) -> int:
    while (pid := executor.pid(job_id)) is None:
        await asyncio.sleep(0.01)  # polling the executor's own state
    return pid


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


async def test_a_killed_build_fails_cleanly_and_the_next_one_runs(tmp_path: Path) -> None:
    executor = LocalExecutor(capacity=2, threads=1, memory_limit_mb=None, timeout_s=None)
    job = _job(tmp_path, "killed", _hanging(tmp_path))
    running = asyncio.create_task(executor.run(job, print))
    os.kill(await _until_running(executor, job.job_id), signal.SIGKILL)
    outcome = await running
    assert isinstance(outcome, Failed) and outcome.code == "build_crashed"
    assert "killed by SIGKILL" in outcome.message
    after = await executor.run(_job(tmp_path, "after", _csv(tmp_path)), print)
    assert isinstance(after, Trained)


async def test_cancel_timeout_and_memory_limit_stop_the_process(tmp_path: Path) -> None:
    executor = LocalExecutor(capacity=3, threads=1, memory_limit_mb=None, timeout_s=None)
    job = _job(tmp_path, "cancel", _hanging(tmp_path))
    running = asyncio.create_task(executor.run(job, print))
    pid = await _until_running(executor, job.job_id)
    assert executor.cancel(job.job_id, "cancelled by key_1")
    assert await running == Cancelled("cancelled by key_1")
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert not executor.cancel(job.job_id, "again")

    timed = LocalExecutor(capacity=1, threads=1, memory_limit_mb=None, timeout_s=0.5, poll_s=0.05)
    late = await timed.run(_job(tmp_path, "late", tmp_path / "never.csv"), print)
    assert isinstance(late, Failed) and late.code == "build_timeout"
    assert "INTENTML_BUILD_TIMEOUT_S" in late.message

    # A ceiling below what the trainer's own imports take: stopped at once.
    small = LocalExecutor(capacity=1, threads=1, memory_limit_mb=20, timeout_s=None, poll_s=0.05)
    hungry = await small.run(_job(tmp_path, "hungry", tmp_path / "never.csv"), print)
    assert isinstance(hungry, Failed) and hungry.code == "build_out_of_memory"
    assert "INTENTML_BUILD_MEMORY_MB" in hungry.message
