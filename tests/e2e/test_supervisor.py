"""`intentml up` as a supervisor, with real processes and real signals.

The object store killed under load loses nothing that was acknowledged (each role and
the broker: tests/faults/test_platform_faults.py); a second `up` on the same data dir
refuses; Ctrl-C stops everything in order; a SIGKILL of `up` leaves none of its
processes, and the next `up` finds the earlier data; a process that keeps crashing
makes `up` give up, saying which, how and where its log is.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import httpx

from intentml.infra.embedded import free_port
from tests.data import churn_rows, to_csv
from tests.e2e.platform import Platform, gone, listening, wait_for

SMALL_CSV = to_csv(churn_rows(20))


def children_of(pid: int) -> list[int]:
    """The direct children of `pid` (PostgreSQL's backends of its postmaster)."""
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").glob("*")
        for child in (task / "children").read_text().split()
    ]


class Uploader:
    """Uploads in a loop on a thread of its own; keeps the id of every answered 201."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.acked: list[str] = []
        self.other: list[int] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # Bounded in time, not in requests: during an outage the refusals come back in a few
        # milliseconds, and a count would run out before the platform recovers.
        deadline = time.monotonic() + 180
        with self.platform.client() as c:
            while not self.done.is_set() and time.monotonic() < deadline:
                try:
                    r = c.post("/uploads", files={"file": ("l.csv", SMALL_CSV, "text/csv")})
                except httpx.HTTPError:
                    self.other.append(0)
                    self.done.wait(0.05)  # a client's back-off, not a synchronisation
                    continue
                if r.status_code == 201:
                    self.acked.append(r.json()["upload_id"])
                else:
                    self.other.append(r.status_code)
                    self.done.wait(0.05)

    def __enter__(self) -> Uploader:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join(60)

    def wait_acked(self, more: int, timeout_s: float = 60.0) -> None:
        """Wait until `more` uploads beyond those acknowledged now were acknowledged."""
        target = len(self.acked) + more
        wait_for(f"{more} more acknowledged uploads", lambda: len(self.acked) >= target, timeout_s)


def all_readable(platform: Platform, upload_ids: list[str], timeout_s: float = 60.0) -> None:
    """Every upload is readable (the projector may still be catching up: bounded wait)."""
    with platform.client() as c:
        missing = list(upload_ids)

        def none_missing() -> bool:
            missing[:] = [u for u in missing if c.get(f"/uploads/{u}").status_code != 200]
            return not missing

        wait_for(f"{len(upload_ids)} acknowledged uploads to be readable", none_missing, timeout_s)


def verify_intact(platform: Platform) -> None:
    verified = platform.cli("events", "verify")
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.startswith("intact"), verified.stderr


def assert_loopback_only(processes: dict[str, int]) -> None:
    """Everything listens on the loopback only, on ports chosen free (none of weed's
    defaults: master 9333, volume 9340, filer 8888, S3 8333, admin 23646, WebDAV 7333,
    Iceberg 8181, Lance 9101, debug 6060, and their gRPC ports at +10000)."""
    defaults = {9333, 9340, 8888, 8333, 23646, 7333, 8181, 9101, 6060}
    defaults |= {p + 10000 for p in defaults}
    for name, pid in processes.items():
        addresses = listening(pid)
        assert addresses or name in ("trainer", "deployer", "projector"), name
        for host, port in addresses:
            assert host == "127.0.0.1" and port not in defaults, (name, host, port)


def test_kills_under_load_then_ctrl_c_then_kill_up_and_restart(platform: Platform) -> None:
    platform.start()
    first = platform.runtime()
    assert set(first.processes) == {
        "object-store",
        "broker",
        "projector",
        "trainer",
        "deployer",
        "api",
    }

    assert_loopback_only(first.processes)

    # A second `up` on the same data dir refuses while the first runs.
    second = Platform(platform.data_dir, free_port())
    second.launch()
    assert second.exit_code(60) == 1
    assert f"another `intentml up` (pid {platform.proc.pid})" in second.text()  # type: ignore[union-attr]

    # The object store killed under load: nothing acknowledged is lost. (Each role and the
    # broker are killed under load in tests/faults/test_platform_faults.py.)
    with Uploader(platform) as load:
        load.wait_acked(5)
        old = platform.kill("object-store")
        platform.wait_restarted("object-store", old)
        assert re.search(rf"object-store \(pid {old}\) exited with signal SIGKILL", platform.text())
        load.wait_acked(3)
    assert len(load.acked) >= 8
    print("answers other than 201 while the object store was killed:", load.other)
    all_readable(platform, load.acked)
    verify_intact(platform)

    with platform.client() as c:
        r = c.post("/uploads", files={"file": ("after.csv", SMALL_CSV, "text/csv")})
        assert r.status_code == 201, r.text
        load.acked.append(r.json()["upload_id"])
    all_readable(platform, load.acked)

    # Ctrl-C: everything stops in order, exit status 0, nothing left running.
    pids = platform.runtime().processes
    assert platform.stop(signal.SIGINT) == 0
    stops = [line.split(" (")[0] for line in platform.output if line.startswith("stopped ")]
    assert stops == [
        "stopped api",
        "stopped trainer and deployer",
        "stopped projector",
        "stopped broker",
        "stopped object-store",
        "stopped PostgreSQL",
    ], platform.text()
    assert all(gone(p) for p in pids.values())

    # SIGKILL of every process at once, under load: `up` itself (none of its processes is
    # left) and PostgreSQL (its postmaster and backends, as a power cut of the processes).
    platform.start()
    pids = platform.runtime().processes
    killed_ports = set(platform.runtime().object_store_ports)
    postmaster = int((platform.data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    assert platform.proc is not None
    with Uploader(platform) as killed_load:
        killed_load.wait_acked(5)
        platform.proc.kill()
        for pid in [postmaster, *children_of(postmaster)]:
            os.kill(pid, signal.SIGKILL)
        platform.proc.wait()
    wait_for("the killed `up`'s children to die", lambda: all(map(gone, pids.values())), 10)
    wait_for("PostgreSQL to die", lambda: gone(postmaster), 10)
    load.acked.extend(killed_load.acked)

    # ... and the next `up` on the same data dir starts (PostgreSQL recovers from its
    # crash) and has every write acknowledged before the kill.
    platform.start()
    all_readable(platform, load.acked)
    verify_intact(platform)
    postmaster = int((platform.data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    # The killed store's sockets in /tmp were cleared (its ports are in no use now).
    stale = killed_ports - set(platform.runtime().object_store_ports)
    assert not [p for p in stale for _ in Path("/tmp").glob(f"seaweedfs-*-{p}.sock")]
    assert platform.stop() == 0
    assert gone(postmaster)
    assert not (platform.data_dir / "runtime.json").exists()


def test_gives_up_after_repeated_crashes(tmp_path: Path) -> None:
    platform = Platform(tmp_path / "data", free_port(), {"INTENTML_RESTART_LIMIT": "2"})
    platform.start()
    try:
        old = platform.kill("trainer")
        new = platform.wait_restarted("trainer", old)
        platform.kill("trainer")
        assert platform.exit_code(90) == 1
    finally:
        if platform.proc and platform.proc.poll() is None:
            platform.proc.kill()
    text = platform.text()
    assert f"giving up: trainer (last pid {new}) exited 2 times within 60 s" in text, text
    assert "the last time with signal SIGKILL" in text
    assert f"its log is {platform.data_dir / 'logs' / 'trainer.log'}" in text
    assert "stopped PostgreSQL" in text


def test_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        platform = Platform(tmp_path / "data", squatter.getsockname()[1])
        platform.launch()
        assert platform.exit_code(60) == 1
    text = platform.text()
    assert "is already in use" in text, text
    assert "intentml is up" not in text
