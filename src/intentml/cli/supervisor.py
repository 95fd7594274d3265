"""`intentml up`: start the platform's processes, keep them running, stop them in order.

- One `up` per data dir: an flock on `up.lock`, held for the life of `up`.
- After a crash, what an earlier `up` left behind is cleaned first: processes named
  in its `runtime.json` that still run are killed (each checked by its command
  line, so a reused pid is left alone), the embedded PostgreSQL's handle file loses
  its dead holders (and a server still running is reused), and the API's port must
  be free: `up` never reports a platform that is not its own as up.
- Every child dies with `up` (PR_SET_PDEATHSIG), and one that dies is restarted with
  exponential backoff; one that dies `restart_limit` times within
  `restart_window_s` makes `up` give up, saying which, how and where its log is.
- Ctrl-C / SIGTERM stops in order: the API (no new commands), the trainer and the
  deployer (SIGTERM: they stop consuming), the projector once it has applied what
  the log holds, the broker, the object store, PostgreSQL. Each step is bounded;
  what does not stop in time is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from intentml.config import Settings
from intentml.infra.embedded import (
    EmbeddedBroker,
    ObjectStore,
    Runtime,
    die_with_parent,
    durable_broker,
    pid_alive,
    port_free,
    remove_store_sockets,
    save_runtime,
    start_postgres,
    stop_postgres,
)

#: The roles `up` runs, in start order; stopped in the order of `STOP_ORDER`.
ROLES = ("projector", "trainer", "deployer", "api")
#: (processes, seconds each may take to stop after SIGTERM) in stop order; the
#: projector's step waits for it to drain first.
STOP_ORDER: tuple[tuple[tuple[str, ...], float], ...] = (
    (("api",), 10.0),
    (("trainer", "deployer"), 30.0),
    (("projector",), 10.0),
    (("broker",), 10.0),
    (("object-store",), 10.0),
)
#: How long the projector may take to apply what the log holds before it is stopped.
DRAIN_TIMEOUT_S = 30.0
#: How long `up` waits for the API's `/health` to answer 200 at start.
HEALTHY_TIMEOUT_S = 180.0
#: How long an embedded service (broker, object store) may take to be ready.
SERVICE_READY_S = 30.0
MAX_BACKOFF_S = 8.0
#: What a live process named in an old `runtime.json` must have in its command line
#: to be taken for one of ours.
_SIGNATURES = {"broker": "tansu", "object-store": "weed"}


def backoff_s(crashes: int) -> float:
    """The delay before restarting a process that has crashed `crashes` times lately."""
    return float(min(MAX_BACKOFF_S, 0.5 * 2 ** max(0, crashes - 1)))


def recent_crashes(times: list[float], now: float, window_s: float) -> list[float]:
    """The crash times within the last `window_s` seconds."""
    return [t for t in times if now - t <= window_s]


def describe_exit(code: int) -> str:
    """`exit code 3`, or `signal SIGKILL` for a process a signal ended."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
        return f"signal {-code}"
    return f"exit code {code}"


@dataclass
class Supervised:
    """One process that `up` keeps running."""

    name: str
    spawn: Callable[[], subprocess.Popen[bytes]]
    log_path: Path
    #: A readiness check run after each (re)start, before the process counts as up.
    ready: Callable[[], bool] | None = None
    #: Run after a restart once ready (a broker with its log in memory re-seeds).
    after_restart: Callable[[], Awaitable[None]] | None = None
    proc: subprocess.Popen[bytes] | None = None
    crashes: list[float] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The current process's pid (0 before the first start)."""
        return self.proc.pid if self.proc else 0

    def running(self) -> bool:
        """Whether the current process has not exited."""
        return self.proc is not None and self.proc.poll() is None


async def exited(proc: subprocess.Popen[bytes]) -> int:
    """Wait (without polling: a pidfd) until `proc` exits; its return code."""
    if proc.poll() is not None:
        return proc.returncode
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return proc.wait()
    done: asyncio.Future[None] = loop.create_future()

    def _readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, _readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    return proc.wait()


async def wait_ready(child: Supervised, timeout_s: float) -> None:
    """Wait until `child.ready()` holds; raise if it exits first or `timeout_s` passes."""
    if child.ready is None or child.proc is None:
        return
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(child.ready):
        if child.proc.poll() is not None:
            raise RuntimeError(
                f"{child.name} exited ({describe_exit(child.proc.returncode)}) while "
                f"starting; its log: {child.log_path}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} was not ready within {timeout_s:.0f} s")
        # A server that does not answer yet: nothing to wait on but time.
        await asyncio.sleep(0.05)


async def stop_processes(children: list[Supervised], timeout_s: float) -> None:
    """SIGTERM each running child, wait up to `timeout_s` for all, SIGKILL the rest."""
    running = [c for c in children if c.running()]
    for c in running:
        assert c.proc is not None
        c.proc.terminate()
    waits = [asyncio.ensure_future(exited(c.proc)) for c in running if c.proc]
    if waits:
        _, late = await asyncio.wait(waits, timeout=timeout_s)
        for c in running:
            if c.running():
                print(f"{c.name} did not stop within {timeout_s:.0f} s; killing it", flush=True)
                assert c.proc is not None
                c.proc.kill()
        await asyncio.gather(*late)


def tail(path: Path, lines: int = 15) -> str:
    """The last `lines` lines of a log file ("" if there is none)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except OSError:
        return ""


# -- the data dir: one `up` at a time, and what a crashed one left behind ---------------


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[bool]:
    """Hold `data_dir/up.lock` (flock) for the block; yields False, holding nothing, when
    another process holds it. The kernel releases it when `up` dies, however it dies."""
    path = data_dir / "up.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            print(
                f"another `intentml up` (pid {holder}) is running on the data dir {data_dir}; "
                "stop it first (Ctrl-C in its terminal, or `kill -TERM "
                f"{holder}`), or use another INTENTML_DATA_DIR",
                file=sys.stderr,
                flush=True,
            )
            yield False
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield True
    finally:
        os.close(fd)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _leftovers(runtime: Runtime) -> dict[int, str]:
    """The processes an old runtime names that still run and look like ours, by pid."""
    named = dict(runtime.processes)
    if runtime.broker_pid:
        named.setdefault("broker", runtime.broker_pid)
    if runtime.supervisor_pid:
        named.setdefault("up", runtime.supervisor_pid)
    return {
        pid: name
        for name, pid in named.items()
        if pid != os.getpid()
        and pid_alive(pid)
        and _SIGNATURES.get(name, "intentml") in _cmdline(pid)
    }


def clear_stale(settings: Settings, timeout_s: float = 10.0) -> None:
    """Kill what an earlier `up` (now dead: we hold the lock) left running, by the pids
    its `runtime.json` names, and remove that file."""
    path = settings.runtime_file
    if not path.exists():
        return
    try:
        runtime = msgspec.json.decode(path.read_bytes(), type=Runtime)
    except msgspec.DecodeError:
        runtime = Runtime("", "")
    leftovers = _leftovers(runtime)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while any(pid_alive(p) for p in leftovers) and time.monotonic() < deadline:
        time.sleep(0.05)  # not our children: no wait() for them, only polling
    if leftovers:
        names = ", ".join(f"{n} (pid {p})" for p, n in leftovers.items())
        print(f"stopped what an earlier `intentml up` left running: {names}", flush=True)
    remove_store_sockets(runtime.object_store_ports)
    path.unlink()


def port_problem(settings: Settings) -> str | None:
    """Why the API cannot listen where it should, if it cannot."""
    if port_free(settings.host, settings.port):
        return None
    return (
        f"port {settings.port} on {settings.host} is already in use (another intentml left "
        f"running, or another program: `ss -ltnp 'sport = :{settings.port}'` shows which); "
        "stop it, or set PORT to a free port"
    )


async def run(settings: Settings) -> int:
    """`intentml up`: everything in the foreground until Ctrl-C / SIGTERM; the exit status."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with data_dir_lock(settings.data_dir) as locked:
        if not locked:
            return 1
        clear_stale(settings)
        problem = port_problem(settings)
        if problem:
            print(problem, file=sys.stderr, flush=True)
            return 1
        return await Supervisor(settings).run()


class Supervisor:
    """The processes of one `intentml up`, and what it does with them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.children: dict[str, Supervised] = {}
        self.embedded_pg = not settings.database_url
        self.stop = asyncio.Event()
        self.signalled = False
        #: Set when a process crashed too often: the message saying which.
        self.failure: str | None = None
        self.keepers: list[asyncio.Task[None]] = []
        self.object_store: ObjectStore | None = None
        settings.logs_dir.mkdir(parents=True, exist_ok=True)

    def log_path(self, name: str) -> Path:
        """Where a process's output goes."""
        return self.settings.logs_dir / f"{name}.log"

    async def run(self) -> int:
        """Start, serve until told to stop (or until a process crashes too often), stop."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.on_signal)
        healthy = False
        try:
            await self.start_services()
            await self.prepare_log()
            for role in ROLES:
                await self.start(self.role(role))
            self.save_runtime()
            healthy = await self.wait_healthy()
            if healthy:
                await self.announce()
                await self.stop.wait()
        except (RuntimeError, TimeoutError, OSError) as exc:
            print(f"intentml could not start: {exc}", file=sys.stderr, flush=True)
        finally:
            await self.shutdown()
        if self.failure:
            print(self.failure, file=sys.stderr, flush=True)
            return 1
        # Told to stop while starting is a clean stop too; a start that failed is not.
        return 0 if healthy or self.signalled else 1

    def on_signal(self) -> None:
        """Ctrl-C / SIGTERM: stop in order."""
        self.signalled = True
        self.stop.set()

    async def start_services(self) -> None:
        """PostgreSQL, object store and broker, as configured (embedded when no URL)."""
        s = self.settings
        if self.embedded_pg:
            print("starting embedded PostgreSQL ...", flush=True)
            url = await asyncio.to_thread(start_postgres, s.data_dir / "pg")
            s = msgspec.structs.replace(s, database_url=url)
        if not s.kafka_bootstrap_servers:
            broker = await self.start_broker()
            s = msgspec.structs.replace(s, kafka_bootstrap_servers=broker.bootstrap_servers)
        self.settings = s
        self.save_runtime()

    async def start_broker(self) -> EmbeddedBroker:
        """The embedded broker: its log in the embedded object store, or in memory."""
        if self.settings.log_storage == "memory":
            broker = EmbeddedBroker()
        else:
            store, broker = durable_broker(self.settings.data_dir)
            self.object_store = store
            print(f"starting the embedded object store (log in {store.directory}) ...", flush=True)
            await self.start(
                Supervised(
                    "object-store",
                    lambda: store.spawn(self.log_path("object-store")),
                    self.log_path("object-store"),
                    ready=store.ready,
                )
            )
        await self.start(
            Supervised(
                "broker",
                lambda: broker.spawn(self.log_path("broker")),
                self.log_path("broker"),
                ready=broker.ready,
                # A log in memory comes back empty: the topic again, and the archive in it.
                after_restart=self.prepare_log if self.settings.log_storage == "memory" else None,
            )
        )
        return broker

    def role(self, role: str) -> Supervised:
        """A role process (`intentml <role>`) against this platform's services."""
        s = self.settings
        env = dict(
            os.environ,
            DATABASE_URL=s.database_url,
            KAFKA_BOOTSTRAP_SERVERS=s.kafka_bootstrap_servers,
            INTENTML_DATA_DIR=str(s.data_dir),
        )
        path = self.log_path(role)

        def spawn() -> subprocess.Popen[bytes]:
            with path.open("ab") as out:
                return subprocess.Popen(
                    [sys.executable, "-m", "intentml.cli.main", role],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    # Own session: Ctrl-C reaches only `up`, which stops the children in order.
                    start_new_session=True,
                    preexec_fn=die_with_parent(),
                )

        return Supervised(role, spawn, path)

    async def start(self, child: Supervised) -> None:
        """Start `child`, wait until it is ready, and keep it running from then on."""
        # Spawned from the main thread: PR_SET_PDEATHSIG follows the forking thread.
        child.proc = child.spawn()
        self.children[child.name] = child
        await wait_ready(child, SERVICE_READY_S)
        self.keepers.append(asyncio.ensure_future(self.keep(child)))

    async def keep(self, child: Supervised) -> None:
        """Restart `child` whenever it dies, with backoff; give up after too many crashes."""
        s = self.settings
        while child.proc is not None:
            code = await exited(child.proc)
            now = time.monotonic()
            child.crashes = [*recent_crashes(child.crashes, now, s.restart_window_s), now]
            if len(child.crashes) >= s.restart_limit:
                self.give_up(child, code)
                return
            delay = backoff_s(len(child.crashes))
            print(
                f"{child.name} (pid {child.pid}) exited with {describe_exit(code)}; "
                f"restarting it in {delay:.1f} s (log: {child.log_path})",
                file=sys.stderr,
                flush=True,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)
            if self.stop.is_set():
                return
            try:
                child.proc = child.spawn()
            except OSError as exc:  # nothing to restart: stop with the reason
                child.crashes = [now] * s.restart_limit
                self.give_up(child, code, f"it could not be started again: {exc}")
                return
            try:
                await wait_ready(child, SERVICE_READY_S)
                if child.after_restart:
                    await child.after_restart()
            # Whatever failed (a re-seed's database or broker error too), the keeper
            # must go on: the next exit counts as a crash, and enough of them give up.
            except Exception as exc:
                print(f"{child.name} did not come back: {exc}", file=sys.stderr, flush=True)
            self.save_runtime()

    def give_up(self, child: Supervised, code: int, why: str = "") -> None:
        """Record why `up` stops (one process crashed too often) and stop."""
        s = self.settings
        self.failure = (
            f"intentml: giving up: {child.name} (last pid {child.pid}) exited "
            f"{len(child.crashes)} times within {s.restart_window_s:.0f} s, the last time "
            f"with {describe_exit(code)}; {why + '; ' if why else ''}its log is "
            f"{child.log_path}; everything was stopped. Its last lines:\n" + tail(child.log_path)
        )
        print(f"{child.name} crashed {len(child.crashes)} times; stopping", file=sys.stderr)
        self.stop.set()

    async def prepare_log(self) -> None:
        """Migrations and the topic; a broker that came up empty is re-seeded."""
        from intentml.infra.setup import prepare

        await prepare(self.settings)
        await self.reseed()

    async def reseed(self) -> None:
        """Refill an empty topic from the events archive (see `intentml.events.reseed`)."""
        from intentml.events.reseed import reseed_if_empty
        from intentml.infra.connect import open_pool

        s = self.settings
        pool = await open_pool(s, "operator")
        try:
            reseeded = await reseed_if_empty(pool, s.kafka_bootstrap_servers, s.topic, s.partitions)
        finally:
            await pool.close()
        if reseeded:
            print(f"re-seeded the broker with {reseeded} archived events", flush=True)

    def save_runtime(self) -> None:
        """Tell other processes (and the next `up`) what runs where."""
        s = self.settings
        store = self.object_store
        save_runtime(
            s,
            Runtime(
                s.database_url,
                s.kafka_bootstrap_servers,
                broker_pid=self.children["broker"].pid if "broker" in self.children else 0,
                object_store_endpoint=store.endpoint if store else "",
                object_store_ports=list(store.ports.values()) if store else [],
                supervisor_pid=os.getpid(),
                processes={n: c.pid for n, c in self.children.items() if c.pid},
            ),
        )

    async def wait_healthy(self) -> bool:
        """Wait until the API (ours: the port was free before it started) answers
        `/health` with 200; False when told to stop, or giving up, first."""
        import httpx

        s = self.settings
        url = f"http://{s.host}:{s.port}/health"
        deadline = time.monotonic() + HEALTHY_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2.0) as client:
            while not self.stop.is_set():
                if self.children["api"].running():
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(url)).status_code == 200:
                            return True
                if time.monotonic() > deadline:
                    print(f"the API did not answer {url} within {HEALTHY_TIMEOUT_S:.0f} s")
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), 0.1)
        return False

    async def announce(self) -> None:
        """The URL and the key, once the platform serves."""
        from intentml.cli.bootstrap import bootstrap_key_notice

        s = self.settings
        print(
            f"intentml is up: http://{s.host}:{s.port}  (docs: http://{s.host}:{s.port}/schema)",
            flush=True,
        )
        print(f"logs: {s.logs_dir}", flush=True)
        print(await bootstrap_key_notice(s), flush=True)

    async def shutdown(self) -> None:
        """Stop everything in order, each step bounded; no restarts from here on."""
        self.stop.set()
        for k in self.keepers:
            k.cancel()
        await asyncio.gather(*self.keepers, return_exceptions=True)
        for names, timeout_s in STOP_ORDER:
            group = [self.children[n] for n in names if n in self.children]
            if not any(c.running() for c in group):
                continue
            began = time.monotonic()
            if names == ("projector",):
                await self.drain()
            await stop_processes(group, timeout_s)
            print(f"stopped {' and '.join(names)} ({time.monotonic() - began:.1f} s)", flush=True)
        if self.object_store and not self.children["object-store"].running():
            self.object_store.remove_sockets()
        if self.embedded_pg:
            began = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.to_thread(stop_postgres, self.settings.data_dir / "pg")
            print(f"stopped PostgreSQL ({time.monotonic() - began:.1f} s)", flush=True)
        self.settings.runtime_file.unlink(missing_ok=True)
        print("intentml stopped", flush=True)

    async def drain(self) -> None:
        """Wait (bounded) until the projector has applied every record the log serves."""
        from intentml.events.checkpoints import CheckpointWatcher
        from intentml.events.probe import wait_drained

        s = self.settings
        if "broker" in self.children and not self.children["broker"].running():
            return
        watcher = CheckpointWatcher(s.database_url)
        try:
            await watcher.start()
            drained = await wait_drained(
                s.kafka_bootstrap_servers, s.topic, s.partitions, watcher, DRAIN_TIMEOUT_S
            )
        except Exception as exc:  # a broken drain must not stop the shutdown
            print(f"could not wait for the projector to drain: {exc}", flush=True)
            return
        finally:
            await watcher.stop()
        if not drained:
            print(
                f"the projector had not applied the whole log within {DRAIN_TIMEOUT_S:.0f} s; "
                "it resumes from its checkpoint on the next start",
                flush=True,
            )
