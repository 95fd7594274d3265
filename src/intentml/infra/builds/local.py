"""The local executor: every build in a process of its own on this machine.

A build that crashes inside LightGBM, runs out of memory or is killed ends that
process only: the trainer reports it as a `Failed` build (`build_crashed`,
`build_out_of_memory`, `build_timeout`) and goes on. Processes come from a fork server
that has already imported the trainer, so a build starts in milliseconds, not the two
seconds an import of LightGBM, pandas and Optuna takes.

Limits, each enforced here: `capacity` builds at once (the scheduler never asks for
more), `threads` LightGBM threads per build, a resident-memory ceiling per build
(checked every `poll_s`), and a wall-clock `timeout_s` per build. The search gets
`SEARCH_SHARE` of the timeout, so that a build whose search is cut short still has the
time to finish and serve its best candidate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

import msgspec

from intentml.domain.training_report import TrainingResult
from intentml.infra.builds import BuildJob, BuildOutcome, Cancelled, Failed, Progress, Trained
from intentml.infra.builds.child import ORPHANED, run_build

log = logging.getLogger(__name__)

#: Share of `timeout_s` the search may spend; the rest finishes the best candidate.
SEARCH_SHARE = 0.6

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["intentml.infra.builds.child"])


class _Run:
    """A build's process, and why the executor stopped it (empty: it did not)."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.started = time.monotonic()
        self.stopped = ""
        self.detail = ""

    def stop(self, why: str, detail: str = "") -> None:
        if not self.stopped:
            self.stopped, self.detail = why, detail
        with contextlib.suppress(ProcessLookupError, ValueError, AttributeError):
            self.process.kill()


class LocalExecutor:
    """Builds in processes of their own (see the module's docstring for the limits)."""

    def __init__(
        self,
        capacity: int,
        threads: int,
        memory_limit_mb: int | None,
        timeout_s: float | None,
        poll_s: float = 0.2,
        search_width: int = 1,
    ) -> None:
        self.capacity = capacity
        self.threads = threads
        self.search_width = search_width
        self.memory_limit_mb = memory_limit_mb
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._runs: dict[str, _Run] = {}

    async def run(self, job: BuildJob, progress: Progress) -> BuildOutcome:
        """Run `job` in a new process; its outcome, whatever happens to the process."""
        budget = None if self.timeout_s is None else self.timeout_s * SEARCH_SHARE
        spec = msgspec.structs.replace(
            job.spec,
            max_threads=self.threads,
            search_width=self.search_width,
            search_budget_s=budget,
        )
        payload = msgspec.msgpack.encode(msgspec.structs.replace(job, spec=spec))
        ours, theirs = _CONTEXT.Pipe(duplex=True)
        process = _CONTEXT.Process(
            target=run_build, args=(theirs, payload), name=f"build-{job.job_id}", daemon=True
        )
        await asyncio.to_thread(process.start)
        theirs.close()
        run = _Run(process, ours)
        self._runs[job.job_id] = run
        loop = asyncio.get_running_loop()

        def relay(percent: int, line: str) -> None:
            loop.call_soon_threadsafe(progress, percent, line)

        watch = asyncio.create_task(self._watch(run))
        try:
            final = await asyncio.to_thread(_pump, ours, relay)
            await asyncio.to_thread(process.join)
        finally:
            watch.cancel()
            self._runs.pop(job.job_id, None)
            ours.close()
        return self._outcome(run, final)

    def cancel(self, job_id: str, reason: str) -> bool:
        """Kill the build's process; its `run` returns `Cancelled(reason)`."""
        run = self._runs.get(job_id)
        if run is None:
            return False
        run.stop("cancelled", reason)
        return True

    def pid(self, job_id: str) -> int | None:
        """The process running build `job_id` (None: not running here)."""
        run = self._runs.get(job_id)
        return None if run is None else run.process.pid

    async def close(self) -> None:
        """Kill every running build (each `run` then returns)."""
        for run in list(self._runs.values()):
            run.stop("closed", "the trainer is stopping")

    async def _watch(self, run: _Run) -> None:
        """Stop the build past its time or memory limit."""
        while run.process.is_alive():
            if self.timeout_s is not None and time.monotonic() - run.started > self.timeout_s:
                run.stop("timeout")
                return
            rss_mb = _resident_mb(run.process.pid)
            if self.memory_limit_mb is not None and rss_mb > self.memory_limit_mb:
                run.stop("memory", f"{rss_mb:,.0f} MB")
                return
            await asyncio.sleep(self.poll_s)  # a watchdog's period, not a synchronization

    def _outcome(self, run: _Run, final: tuple[object, ...] | None) -> BuildOutcome:
        if final is not None and final[0] == "trained":
            assert isinstance(final[1], bytes)
            return Trained(msgspec.msgpack.decode(final[1], type=TrainingResult))
        if final is not None and final[0] == "failed":
            return Failed(str(final[1]), str(final[2]))
        return self._stopped(run)

    def _stopped(self, run: _Run) -> BuildOutcome:
        """The outcome of a build whose process ended without a word."""
        if run.stopped == "cancelled":
            return Cancelled(run.detail)
        if run.stopped == "timeout":
            return Failed(
                "build_timeout",
                f"the build ran past the platform's limit of {self.timeout_s:g} s "
                "(INTENTML_BUILD_TIMEOUT_S) and was stopped; set a smaller `time_budget_s` or "
                "`max_iterations`, or upload fewer rows",
            )
        if run.stopped == "memory":
            return Failed(
                "build_out_of_memory",
                f"the build used {run.detail} of memory, over the limit of "
                f"{self.memory_limit_mb:,} MB per build (INTENTML_BUILD_MEMORY_MB), and was "
                "stopped; upload fewer rows or columns, or raise the limit",
            )
        if run.stopped == "closed":
            return Failed("build_interrupted", "the trainer stopped while the build ran")
        return Failed(
            "build_crashed",
            f"the build's process ended unexpectedly ({_exit_words(run.process.exitcode)}); "
            "the platform is unaffected. Retrain to try again; if it happens again, the data "
            "may be too large for this machine",
        )


def _pump(conn: Connection, relay: Progress) -> tuple[object, ...] | None:
    """Relay progress until the child closes the pipe; its final message, if any."""
    final: tuple[object, ...] | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return final
        if message[0] == "progress":
            relay(int(message[1]), str(message[2]))
        else:
            final = tuple(message)


def _resident_mb(pid: int | None) -> float:
    """Resident memory of process `pid` in MB (0 when it is gone or unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return 0.0
    return 0.0


def _exit_words(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    if code == ORPHANED:
        return "its trainer was gone"
    return f"exit status {code}"
