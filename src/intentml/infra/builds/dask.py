"""The Dask executor: builds on the workers of an existing Dask cluster.

`INTENTML_DASK_SCHEDULER=tcp://host:8786` makes the trainer submit each build as one
task (`pure=False`, keyed by job id and a fresh attempt suffix) to that scheduler. On
the worker the task does what the trainer does with the local executor, with the
same code:

- `StoredBuilds` fetches the upload from the object store (`INTENTML_STORE_URL`, read
  with the worker's own `AWS_*` variables) and stores the artifact there, so the
  trainer never touches the data. With no store URL the key resolves under the
  trainer's data dir, which only a cluster on the trainer's machine (a `LocalCluster`)
  can read;
- `LocalExecutor` runs the build in a process of its own on the worker, with the
  platform's time and memory limits, so that a cancel can kill it: Dask cannot
  interrupt a running task, but the task watches a distributed `Event` and kills its
  build's process when the trainer sets it.

Progress lines come back through a distributed `Queue` per build, the outcome as the
task's result. A worker that dies mid-build is replaced by the scheduler up to its
`distributed.scheduler.allowed-failures` (each restart is a line in the build log);
past it the build fails with `build_crashed` and Dask's reason. Data over
`distributed_cells` is trained across the workers with `lightgbm.dask`
(`intentml.ml.distributed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
import threading
import uuid
from collections.abc import Awaitable, Callable
from multiprocessing import forkserver
from pathlib import Path
from typing import cast

import msgspec
from distributed import Client, Event, Future, Queue, Worker, WorkerPlugin, get_worker, secede
from distributed.scheduler import KilledWorker

from intentml.config import Settings
from intentml.infra.blobs import BlobStore, LocalBlobs, open_blob_store
from intentml.infra.builds import (
    BuildJob,
    BuildOutcome,
    Cancelled,
    Failed,
    Progress,
)
from intentml.infra.builds.local import LocalExecutor
from intentml.infra.builds.stored import StoredBuilds

log = logging.getLogger(__name__)

#: How often the trainer collects a build's progress lines, and the worker looks for a
#: cancel (seconds).
POLL_S = 0.2
#: How long the trainer waits for the cluster's first worker at start.
WORKERS_WAIT_S = 10.0

#: Puts one message on a build's progress `Queue`.
_Send = Callable[[tuple[object, ...]], None]


class OnWorker(msgspec.Struct, frozen=True, kw_only=True):
    """What a build's task needs on the worker besides its job: the store, the limits,
    and its channels (the names of its `Queue` and `Event`)."""

    channel: str
    store_url: str
    #: The trainer's data dir: the store when `store_url` is empty (same machine only).
    data_dir: str
    #: LightGBM threads per build (0: the worker's cores shared among its threads).
    threads: int
    memory_limit_mb: int | None
    timeout_s: float | None
    #: Train across the cluster when the job has more cells than this (0: never).
    distributed_cells: int


class _Running:
    """A build the trainer follows: its cancel `Event`, and why the trainer stopped it."""

    def __init__(self, stop: Event) -> None:
        self.stop = stop
        self.why = ""
        self.reason = ""
        self.signal: asyncio.Task[None] | None = None

    def request(self, why: str, reason: str) -> asyncio.Task[None]:
        if not self.why:
            self.why, self.reason = why, reason
        if self.signal is None:
            self.signal = asyncio.ensure_future(self._set())
        return self.signal

    async def _set(self) -> None:
        with contextlib.suppress(Exception):  # the cluster is gone: so is the build
            await self.stop.set()


class DaskExecutor:
    """Builds on an existing Dask cluster (see the module's docstring)."""

    def __init__(
        self,
        address: str,
        *,
        capacity: int | None = None,
        store_url: str = "",
        data_dir: Path = Path(".intentml"),
        threads: int = 0,
        memory_limit_mb: int | None = None,
        timeout_s: float | None = None,
        distributed_cells: int = 0,
    ) -> None:
        self.address = address
        cluster_threads = prepare_cluster(address)
        self.capacity = capacity or cluster_threads
        self.store_url = store_url
        self.data_dir = data_dir
        self.threads = threads
        self.memory_limit_mb = memory_limit_mb
        self.timeout_s = timeout_s
        self.distributed_cells = distributed_cells
        self._client: Client | None = None
        self._connecting = asyncio.Lock()
        self._runs: dict[str, _Running] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> DaskExecutor:
        """The executor `INTENTML_DASK_SCHEDULER` asks for, with the build limits that
        were set explicitly (those derived from this machine do not fit another)."""
        return cls(
            settings.dask_scheduler,
            capacity=settings.build_concurrency or None,
            store_url=settings.store_url,
            data_dir=settings.data_dir,
            threads=settings.build_threads,
            memory_limit_mb=settings.build_memory_mb or None,
            timeout_s=settings.build_timeout_s,
            distributed_cells=settings.dask_distributed_cells,
        )

    async def run(self, job: BuildJob, progress: Progress) -> BuildOutcome:
        """Run `job` as a task on the cluster; its outcome, whatever happens there."""
        key = f"build-{job.job_id}-{uuid.uuid4().hex[:8]}"
        try:
            client = await self._connect()
            lines, stop = await Queue(key, client=client), Event(key, client=client)
        except Exception as exc:
            log.exception("build %s: no Dask scheduler at %s", job.job_id, self.address)
            return Failed(
                "build_crashed",
                f"the Dask scheduler at {self.address} (INTENTML_DASK_SCHEDULER) cannot be "
                f"reached: {exc}; retrain once the cluster is back",
            )
        running = _Running(stop)
        self._runs[job.job_id] = running
        on_worker = OnWorker(
            channel=key,
            store_url=self.store_url,
            data_dir=str(self.data_dir),
            threads=self.threads,
            memory_limit_mb=self.memory_limit_mb,
            timeout_s=self.timeout_s,
            distributed_cells=self.distributed_cells,
        )
        payload = msgspec.msgpack.encode(job)
        future: Future[bytes] = client.submit(
            _build_on_worker, payload, on_worker, key=key, pure=False
        )
        try:
            outcome = await self._follow(future, lines, progress, running)
        finally:
            self._runs.pop(job.job_id, None)
            if running.signal is not None:
                await running.signal
            with contextlib.suppress(Exception):  # only cleanup on the scheduler
                lines.close()
                await stop.clear()
                future.release()
        return outcome

    def cancel(self, job_id: str, reason: str) -> bool:
        """Tell the build's task to kill its process; its `run` returns `Cancelled`."""
        running = self._runs.get(job_id)
        if running is None:
            return False
        running.request("cancelled", reason)
        return True

    async def close(self) -> None:
        """Stop every running build (each `run` then ends `build_interrupted`) and
        disconnect from the scheduler."""
        signals = [r.request("closed", "") for r in list(self._runs.values())]
        await asyncio.gather(*signals, return_exceptions=True)
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def _connect(self) -> Client:
        async with self._connecting:
            if self._client is None:
                client = await Client(self.address, asynchronous=True, timeout="10s")
                await client.register_plugin(PrepareBuilds())
                self._client = client
            return self._client

    async def _follow(
        self, future: Future[bytes], lines: Queue, progress: Progress, running: _Running
    ) -> BuildOutcome:
        """Relay the task's progress lines until it ends; its outcome."""
        result = asyncio.ensure_future(_result(future))
        try:
            await self._relay(result, lines, progress)
        finally:
            result.cancel()  # only when this build's `run` was itself cancelled
        return self._outcome(future, result, running)

    async def _relay(self, result: asyncio.Future[bytes], lines: Queue, progress: Progress) -> None:
        """Relay the task's progress lines until `result` is done (and the last ones)."""
        starts = 0
        while True:
            done = result.done()
            try:
                batch = await lines.get(batch=True)
            except Exception:  # the scheduler is gone: the result says what happened
                batch = []
            for message in batch:
                if message[0] == "started":
                    starts += 1
                    progress(0, _start_line(str(message[1]), starts))
                else:
                    progress(int(message[1]), str(message[2]))
            if done:
                return
            await asyncio.wait({result}, timeout=POLL_S)

    def _outcome(
        self, future: Future[bytes], result: asyncio.Future[bytes], running: _Running
    ) -> BuildOutcome:
        """The outcome of the task's `result`, as the trainer reports it."""
        try:
            outcome: BuildOutcome = msgspec.msgpack.decode(result.result(), type=BuildOutcome)
        except KilledWorker as exc:
            outcome = Failed(
                "build_crashed",
                f"the Dask worker running the build died ({exc}); the platform is "
                "unaffected. Retrain to try again; if it happens again, the data may be too "
                "large for the cluster's workers",
            )
        except (Exception, asyncio.CancelledError) as exc:
            if running.why:
                outcome = Cancelled(running.reason)
            else:
                log.exception("build %s ended on the Dask cluster without a result", future.key)
                outcome = Failed(
                    "build_crashed",
                    f"the build's task on the Dask cluster ended without a result "
                    f"({type(exc).__name__}: {exc}); retrain to try again",
                )
        if isinstance(outcome, Cancelled) and running.why == "closed":
            return Failed("build_interrupted", "the trainer stopped while the build ran")
        if isinstance(outcome, Cancelled):
            return Cancelled(running.reason)
        return outcome


async def _result(future: Future[bytes]) -> bytes:
    # An asynchronous client's `result()` is a coroutine (typed as the value).
    return await cast("Awaitable[bytes]", future.result())


def _start_line(worker: str, starts: int) -> str:
    if starts == 1:
        return f"running on Dask worker {worker}"
    return (
        f"restarted on Dask worker {worker}: the previous worker was lost before the build "
        "finished; progress starts over"
    )


def prepare_cluster(address: str, wait_s: float = WORKERS_WAIT_S) -> int:
    """Ready the workers of the cluster at `address` for builds (`PrepareBuilds`, so
    that they are warm before the first build comes); their threads (1 while the
    cluster has no workers yet). Runs in a thread of its own, so that it works inside
    and outside an event loop."""
    threads: list[int] = []

    async def ask() -> None:
        async with Client(address, asynchronous=True, timeout="10s") as client:
            await client.register_plugin(PrepareBuilds())
            with contextlib.suppress(TimeoutError):
                await client.wait_for_workers(1, timeout=wait_s)
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            threads.append(sum(int(w["nthreads"]) for w in workers))

    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(ask())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=main, name="dask-capacity")
    thread.start()
    thread.join()
    if failure:
        raise RuntimeError(
            f"the Dask scheduler at {address} (INTENTML_DASK_SCHEDULER) cannot be reached: "
            f"{failure[0]}"
        ) from failure[0]
    if not threads[0]:
        log.warning("the Dask cluster at %s has no workers yet: 1 build at a time", address)
    return max(1, threads[0])


# On the worker.


class PrepareBuilds(WorkerPlugin):
    """Readies every worker of the cluster for builds, new ones too: lets it start
    processes, and starts its fork server (LightGBM, pandas and the trainer imported)
    at once instead of at its first build, which would wait seconds for it."""

    name = "intentml-builds"

    def setup(self, worker: Worker) -> None:
        _allow_children()
        threading.Thread(target=forkserver.ensure_running, name="forkserver", daemon=True).start()


def _allow_children() -> None:
    """Dask starts its workers as daemonic processes, which multiprocessing forbids to
    start children. A build's process needs no such guard: it ends itself when its
    worker is gone (its pipe closes; see `child.py`)."""
    multiprocessing.current_process().daemon = False


def _build_on_worker(payload: bytes, on: OnWorker) -> bytes:
    """The task: run the encoded `BuildJob` on this worker; the encoded outcome."""
    worker = get_worker()
    job = msgspec.msgpack.decode(payload, type=BuildJob)
    stop = Event(on.channel)
    sender = _Sender(Queue(on.channel))
    sender.send(("started", worker.address))
    _allow_children()
    if on.distributed_cells and job.cells > on.distributed_cells:
        # `lightgbm.dask` needs a thread on every worker, this one's too: leave the
        # worker's pool while the build's process drives the cluster.
        job = msgspec.structs.replace(job, cluster=worker.scheduler.address)
        secede()
    threads = on.threads or max(1, (os.cpu_count() or 1) // max(1, worker.state.nthreads))
    local = LocalExecutor(
        capacity=1, threads=threads, memory_limit_mb=on.memory_limit_mb, timeout_s=on.timeout_s
    )
    key = worker.get_current_task()

    def wanted() -> bool:
        """Whether anyone still waits for this task: its trainer's client may be gone (the
        trainer stopped or died), and its build must not hold the worker for nothing."""
        task = worker.state.tasks.get(key)
        return task is not None and task.state in ("executing", "long-running")

    builds = StoredBuilds(local, _store(on))
    try:
        outcome = asyncio.run(_build(job, builds, stop, wanted, sender.send))
    except Exception as exc:
        log.exception("build %s failed on this worker", job.job_id)
        outcome = Failed("internal_error", f"the build failed on its Dask worker: {exc}")
    finally:
        sender.close()
    return msgspec.msgpack.encode(outcome)


async def _build(
    job: BuildJob,
    builds: StoredBuilds,
    stop: Event,
    wanted: Callable[[], bool],
    send: _Send,
) -> BuildOutcome:
    """Run `job` on `builds`, killing its process once `stop` is set or the task is no
    longer `wanted`."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                if stop.wait(POLL_S) or not wanted():
                    builds.cancel(job.job_id, "")
                    return
            except Exception:  # the scheduler is unreachable for now: ask again
                done.wait(POLL_S)

    if await asyncio.to_thread(stop.is_set):
        return Cancelled("")
    watcher = asyncio.create_task(asyncio.to_thread(watch))
    try:
        return await builds.run(job, lambda percent, line: send(("progress", percent, line)))
    finally:
        done.set()
        await watcher


def _store(on: OnWorker) -> BlobStore:
    """The store as this worker reaches it: the S3 store of `store_url` (credentials
    from this worker's `AWS_*` variables, its cache under `INTENTML_DATA_DIR` or the
    worker's local directory), or the trainer's data dir (same machine only)."""
    if not on.store_url:
        return LocalBlobs(Path(on.data_dir))
    local = os.environ.get("INTENTML_DATA_DIR") or str(
        Path(get_worker().local_directory) / "intentml"
    )
    return open_blob_store(Settings(data_dir=Path(local).absolute(), store_url=on.store_url))


class _Sender:
    """Puts messages on the build's `Queue` in order, from a thread of its own, so the
    build never waits for the scheduler."""

    def __init__(self, lines: Queue) -> None:
        self._lines = lines
        self._pending: queue.SimpleQueue[tuple[object, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._forward, name="build-lines", daemon=True)
        self._thread.start()

    def send(self, message: tuple[object, ...]) -> None:
        self._pending.put(message)

    def close(self) -> None:
        """Send what is pending, then stop."""
        self._pending.put(None)
        self._thread.join()
        self._lines.close()

    def _forward(self) -> None:
        while (message := self._pending.get()) is not None:
            try:
                self._lines.put(message)
            except Exception:  # a lost line must not fail the build
                log.warning("a progress line of %s was lost", self._lines.name, exc_info=True)
