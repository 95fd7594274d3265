"""The fault-injection harness: `intentml up` as real processes, a load that records what
the platform acknowledged, and the checks every fault must pass.

- `UpProcess` starts `intentml up` (what `make run` runs) on a data dir of its own and
  finds its processes by role (`pids`), so a test can kill -9 or SIGSTOP any of them.
- `Load` writes through the API as clients do (uploads, PATCHes with unique values) and
  keeps every write answered 2xx, every 5xx and every request that hung.
- `check_nothing_lost` then reads the archive (`intentml events export`) and the read
  models: every acknowledged write is there, accepted exactly once, and `intentml events
  verify` finds every chain intact, in the archive and in the log itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.data import churn_rows, to_csv

#: The roles `intentml up` runs as `python -m intentml.cli.main ROLE`.
ROLES = ("api", "projector", "trainer", "deployer")
#: How long any one request may take before it counts as a hang.
REQUEST_TIMEOUT_S = 10.0


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "INTENTML_API_KEY")
    }
    env.update(INTENTML_DATA_DIR=str(data_dir), PORT=str(port), LOG_LEVEL="WARNING")
    return env


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (children lists of every thread)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = [int(k) for k in (task / "children").read_text().split()]
                found.extend(kids)
                todo.extend(kids)
    return found


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class UpProcess:
    """`intentml up` on its own data dir and port, its output kept."""

    data_dir: Path
    port: int
    proc: subprocess.Popen[str] | None = None
    key: str = ""
    output: list[str] = field(default_factory=list)

    def start(self, timeout_s: float = 180.0) -> None:
        """Start and wait until it prints its key (it is up), or fail with its output."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "intentml.cli.main", "up"],
            env=_env(self.data_dir, self.port),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        for line in self.proc.stdout:  # its own output, line by line: no polling
            self.output.append(line)
            if line.startswith("API key"):
                self.key = line.rsplit(" ", 1)[-1].strip()
                break
            assert time.monotonic() < deadline, "".join(self.output)
        else:
            raise AssertionError("intentml up exited:\n" + "".join(self.output))
        # Keep draining its output, or a chatty child blocks on a full pipe.
        drain = self.proc.stdout
        threading.Thread(target=lambda: self.output.extend(drain), daemon=True).start()

    def pids(self) -> dict[str, int]:
        """The live processes of this platform by role: the four roles, `broker`,
        `objectstore` (when it runs one) and `postgres` (the postmaster)."""
        assert self.proc is not None
        found: dict[str, int] = {"up": self.proc.pid}
        for pid in _descendants(self.proc.pid):
            cmd = _cmdline(pid)
            if not cmd or not alive(pid):
                continue
            if "intentml.cli.main" in cmd and cmd[-1] in ROLES:
                found[cmd[-1]] = pid
            elif "tansu" in Path(cmd[0]).name:
                found["broker"] = pid
            elif Path(cmd[0]).name == "weed":
                found["objectstore"] = pid
        pid_file = self.data_dir / "pg" / "postmaster.pid"
        if pid_file.exists():
            found["postgres"] = int(pid_file.read_text().split("\n", 1)[0])
        return found

    def signal(self, role: str, sig: signal.Signals) -> int:
        """Send `sig` to the process of `role`; its pid."""
        pid = self.pids()[role]
        os.kill(pid, sig)
        return pid

    def stop(self, timeout_s: float = 90.0) -> int:
        """Ctrl-C, as a user stops it; its exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout_s)

    def kill_all(self) -> None:
        """Leave nothing running, whatever state the test left it in."""
        if self.proc is None:
            return
        pids = self.pids()
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop(60)
        for role, pid in self.pids().items() if self.proc.poll() is None else pids.items():
            if role != "postgres" and alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def client(self) -> httpx.AsyncClient:
        """A client with the bootstrap key and the hang bound."""
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            timeout=REQUEST_TIMEOUT_S,
            headers={"Authorization": f"Bearer {self.key}"},
        )

    def cli(self, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run an `intentml` command against this platform."""
        return subprocess.run(
            [sys.executable, "-m", "intentml.cli.main", *args],
            env=_env(self.data_dir, self.port),
            text=True,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )


@dataclass
class Load:
    """Writes like a client's: uploads and PATCHes, each with a value of its own, and what
    came back. `acked` holds what the platform answered 2xx: what it must never lose."""

    model: str
    acked_uploads: list[str] = field(default_factory=list)
    acked_descriptions: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    refused: Counter[int] = field(default_factory=Counter)
    sent: int = 0
    #: The longest any answered request took, in seconds.
    slowest: float = 0.0
    _acked: asyncio.Condition = field(default_factory=asyncio.Condition)
    #: Prefixes this load's values: unique across the loads of one platform.
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def acks(self) -> int:
        """Writes acknowledged so far."""
        return len(self.acked_uploads) + len(self.acked_descriptions)

    async def until_refused(self, status: int, timeout_s: float = 30.0) -> None:
        """Wait until a write is refused with `status` (an outage is noticed)."""
        async with self._acked:
            await asyncio.wait_for(
                self._acked.wait_for(lambda: self.refused[status] > 0), timeout_s
            )

    async def until_acked(self, n: int, timeout_s: float = 60.0) -> None:
        """Wait until `n` more writes than now have been acknowledged."""
        target = self.acks + n
        async with self._acked:
            await asyncio.wait_for(self._acked.wait_for(lambda: self.acks >= target), timeout_s)

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event, writer: int) -> None:
        """Write until `stop` is set; connection errors (a killed API) are retried later."""
        n = 0
        small = to_csv(churn_rows(30, seed=writer))
        while not stop.is_set():
            n += 1
            # Unique across the loads of one platform: a value written by an earlier
            # test's load must not count as this one's, accepted twice.
            tag = f"{self.run_id}-w{writer}-{n}"
            started = time.monotonic()
            try:
                if n % 3:
                    await self._patch(client, tag)
                else:
                    await self._upload(client, tag, small)
                self.slowest = max(self.slowest, time.monotonic() - started)
            except httpx.TimeoutException:
                self.hangs.append(tag)
            except httpx.TransportError:
                # The API is down (killed, restarting): nothing was acknowledged.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)

    async def _patch(self, client: httpx.AsyncClient, tag: str) -> None:
        self.sent += 1
        r = await client.patch(f"/models/{self.model}", json={"description": tag})
        await self._record(r, tag, self.acked_descriptions, tag)

    async def _upload(self, client: httpx.AsyncClient, tag: str, data: bytes) -> None:
        self.sent += 1
        r = await client.post("/uploads", files={"file": (f"{tag}.csv", data, "text/csv")})
        upload_id = r.json().get("upload_id") if r.is_success else ""
        await self._record(r, tag, self.acked_uploads, upload_id)

    async def _record(self, r: httpx.Response, tag: str, acked: list[str], value: Any) -> None:
        if r.is_success:
            acked.append(value)
            async with self._acked:
                self._acked.notify_all()
        elif r.status_code >= 500 and r.status_code != 503:
            self.server_errors.append(f"{tag}: {r.status_code} {r.text[:300]}")
        else:
            self.refused[r.status_code] += 1
            async with self._acked:
                self._acked.notify_all()


@contextlib.asynccontextmanager
async def loaded(up: UpProcess, load: Load, writers: int = 3) -> AsyncIterator[Load]:
    """Run `writers` writers against `up` for the block; they stop when it ends."""
    stop = asyncio.Event()
    async with up.client() as client:
        tasks = [asyncio.create_task(load.run(client, stop, w)) for w in range(writers)]
        try:
            yield load
        finally:
            stop.set()
            await asyncio.gather(*tasks)


async def wait_healthy(up: UpProcess, timeout_s: float = 120.0) -> float:
    """Seconds until `/health` answers 200 (the platform recovered)."""
    started = time.monotonic()
    async with up.client() as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/health")).status_code == 200:
                    return time.monotonic() - started
            assert time.monotonic() - started < timeout_s, "".join(up.output[-40:])
            await asyncio.sleep(0.1)  # a client polling the documented health endpoint


def exported(up: UpProcess) -> list[dict[str, Any]]:
    """The whole archive, as `intentml events export` gives it."""
    done = up.cli("events", "export")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line]


def accepted_writes(up: UpProcess) -> Counter[tuple[str, str]]:
    """How many times each written value was accepted, by the archive."""
    accepted: Counter[tuple[str, str]] = Counter()
    for line in exported(up):
        if not line["accepted"]:
            continue
        event = line["event"]
        data = event["data"]
        if event["type"] == "ModelUpdated" and data.get("description"):
            accepted["description", data["description"]] += 1
        elif event["type"] == "DatasetUploaded":
            accepted["upload", data["upload_id"]] += 1
    return accepted


def check_nothing_lost(up: UpProcess, load: Load, timeout_s: float = 60.0) -> None:
    """Every acknowledged write is in the archive, accepted exactly once; no 500s, no hangs;
    every chain intact in the archive and in the log. An acknowledged command may still be
    on its way to the archive (202, or a pending event a sweeper produces): waited for."""
    assert not load.server_errors, load.server_errors
    assert not load.hangs, load.hangs
    wanted = [("description", d) for d in load.acked_descriptions]
    wanted += [("upload", u) for u in load.acked_uploads]
    deadline = time.monotonic() + timeout_s
    while True:
        accepted = accepted_writes(up)
        missing = [w for w in wanted if accepted[w] == 0]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # the archive is read again by a new export: nothing to block on
    assert not missing, (missing, len(wanted))
    doubled = [k for k, n in accepted.items() if n > 1]
    assert not doubled, doubled
    for source in ([], ["--source", "log"]):
        verified = up.cli("events", "verify", *source)
        assert verified.returncode == 0, verified.stderr
        assert "intact" in verified.stderr


async def wait_applied(up: UpProcess, load: Load, timeout_s: float = 60.0) -> None:
    """Wait until the projector has applied every acknowledged PATCH: one more command on
    the model's stream is answered as applied (200, not 202), and its verdict comes after
    everything before it in its partition. (Uploads, on the account's stream, are
    answered 201 either way: `check_nothing_lost` waits for those in the archive.)"""
    async with up.client() as client:
        deadline = time.monotonic() + timeout_s
        while True:
            r = await client.patch(f"/models/{load.model}", json={"tags": ["checked"]})
            if r.status_code == 200:
                return
            assert time.monotonic() < deadline, r.text
            await asyncio.sleep(0.2)  # 202: still in flight; ask again as a client would
