"""`intentml up` as a user runs it, driven from a test: start, read its output, signal it.

Its output is read by a thread as it comes (a full pipe would block `up`), and
waits are on that output, on `runtime.json` or on HTTP answers, with deadlines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec

from intentml.infra.embedded import Runtime


def gone(pid: int) -> bool:
    """Whether no process `pid` exists (a zombie awaiting its reaper counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status


def listening(pid: int) -> list[tuple[str, int]]:
    """The TCP addresses (IPv4 and IPv6) that process `pid` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                host, port = fields[1].split(":")
                found.append((_address(host), int(port, 16)))
    return found


def _address(hex_host: str) -> str:
    raw = bytes.fromhex(hex_host)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    return "[v6:" + hex_host + "]"


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, poll_s: float = 0.1) -> None:
    """Wait until `check()` holds (polling a state with no event to wait on), or fail."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what}"
        time.sleep(poll_s)


class Platform:
    """One `intentml up` on a data dir and port of its own."""

    def __init__(self, data_dir: Path, port: int, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.key = ""
        self.key_line = ""
        self.output: list[str] = []
        self._changed = threading.Condition()
        self.eof = False

    def launch(self) -> subprocess.Popen[str]:
        """Start `intentml up` and read its output in the background."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "INTENTML_API_KEY")
        }
        env.update(INTENTML_DATA_DIR=str(self.data_dir), PORT=str(self.port), LOG_LEVEL="WARNING")
        env.update(self.env)
        self.output = []
        self.eof = False
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "intentml.cli.main", "up"],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return self.proc

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._changed:
                self.output.append(line)
                self._changed.notify_all()
        with self._changed:
            self.eof = True
            self._changed.notify_all()

    def wait_line(self, match: Callable[[str], bool], timeout_s: float) -> str:
        """The first output line that `match`es; fails if `up` exits or time runs out first."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for line in self.output:
                    if match(line):
                        return line
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    break
                self._changed.wait(left)
        raise AssertionError("no such line from intentml up:\n" + "".join(self.output))

    def start(self, timeout_s: float = 120.0) -> None:
        """Start `up` and wait until it prints the key (or says the key was revoked)."""
        self.launch()
        line = self.wait_line(
            lambda s: s.startswith(("API key", "The bootstrap admin key")), timeout_s
        )
        self.key_line = line
        self.key = line.rsplit(" ", 1)[-1].strip() if line.startswith("API key") else ""

    def exit_code(self, timeout_s: float = 60.0) -> int:
        """Wait for `up` to exit; its exit status (output all read)."""
        assert self.proc is not None
        code = self.proc.wait(timeout_s)
        with self._changed:
            self._changed.wait_for(lambda: self.eof, 10.0)
        return code

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal `up` (SIGTERM, or SIGINT for a Ctrl-C) and wait for it to exit."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.exit_code(90)

    def text(self) -> str:
        """Everything `up` printed so far."""
        with self._changed:
            return "".join(self.output)

    def runtime(self) -> Runtime:
        """What `up` recorded in `runtime.json`."""
        return msgspec.json.decode((self.data_dir / "runtime.json").read_bytes(), type=Runtime)

    def pid(self, name: str) -> int:
        """The pid of one process `up` runs (`api`, `broker`, `object-store`, ...)."""
        return self.runtime().processes[name]

    def kill(self, name: str) -> int:
        """SIGKILL one process `up` runs; its pid."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, name: str, old_pid: int, timeout_s: float = 60.0) -> int:
        """Wait until `up` runs a new `name` process and the API answers /health with 200."""

        def restarted() -> bool:
            try:
                return self.pid(name) != old_pid and self.healthy()
            except (OSError, KeyError, msgspec.DecodeError):
                return False

        wait_for(f"{name} to be restarted", restarted, timeout_s)
        return self.pid(name)

    def healthy(self) -> bool:
        """Whether `/health` answers 200."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def client(self) -> httpx.Client:
        """An HTTP client with the admin key."""
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            timeout=30.0,
            headers={"Authorization": f"Bearer {self.key}"},
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """An `intentml` command against this platform (found through its data dir)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
        }
        env["INTENTML_DATA_DIR"] = str(self.data_dir)
        return subprocess.run(
            [sys.executable, "-m", "intentml.cli.main", *args],
            env=env,
            text=True,
            capture_output=True,
            timeout=120,
        )
