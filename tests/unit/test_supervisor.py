"""The supervisor's rules, without processes: backoff, the crash window, exit wording,
the data-dir lock, and what counts as a process left behind by an earlier `up`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from intentml.cli import supervisor
from intentml.cli.supervisor import backoff_s, data_dir_lock, describe_exit, recent_crashes
from intentml.config import Settings
from intentml.infra.embedded import Runtime, find_weed, resolve_services, save_runtime


def test_backoff_doubles_from_half_a_second_up_to_a_cap() -> None:
    assert [backoff_s(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff_s(0) == 0.5


def test_only_crashes_within_the_window_count() -> None:
    assert recent_crashes([1.0, 30.0, 95.0], now=100.0, window_s=60.0) == [95.0]
    assert recent_crashes([40.0, 95.0], now=100.0, window_s=60.0) == [40.0, 95.0]


def test_exits_are_described_by_code_or_signal() -> None:
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-signal.SIGKILL) == "signal SIGKILL"
    assert describe_exit(-200) == "signal 200"


def test_the_lock_admits_one_holder_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with data_dir_lock(tmp_path) as first:
        assert first
        # flock locks belong to open files: a second open of the same file is refused.
        with data_dir_lock(tmp_path) as second:
            assert not second
    assert f"another `intentml up` (pid {os.getpid()})" in capsys.readouterr().err
    with data_dir_lock(tmp_path) as again:
        assert again


def test_leftovers_are_live_processes_of_ours_only(tmp_path: Path) -> None:
    ours = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()  # intentml"], stdin=subprocess.PIPE
    )
    other = subprocess.Popen(["sleep", "60"])
    try:
        runtime = Runtime(
            "", "", processes={"api": ours.pid, "trainer": other.pid, "projector": 2**22 + 1}
        )
        # `sleep` is alive but not ours (a reused pid); the third pid does not exist.
        assert supervisor._leftovers(runtime) == {ours.pid: "api"}
    finally:
        for p in (ours, other):
            p.kill()
            p.wait()


def test_log_storage_is_s3_or_memory() -> None:
    assert Settings.from_env({}).log_storage == "s3"
    assert Settings.from_env({"INTENTML_LOG_STORAGE": "memory"}).log_storage == "memory"
    with pytest.raises(ValueError, match="INTENTML_LOG_STORAGE"):
        Settings.from_env({"INTENTML_LOG_STORAGE": "postgres"})


def test_the_weed_binary_of_the_wheel_is_found() -> None:
    weed = find_weed()
    assert os.access(weed, os.X_OK)
    assert Path(weed).name == "weed"


def test_a_runtime_file_of_a_dead_up_is_not_used(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    save_runtime(settings, Runtime("postgresql://x", "127.0.0.1:1", supervisor_pid=dead.pid))
    with pytest.raises(RuntimeError, match="is not running"):
        resolve_services(settings)
    save_runtime(settings, Runtime("postgresql://x", "127.0.0.1:1", supervisor_pid=os.getpid()))
    assert resolve_services(settings).kafka_bootstrap_servers == "127.0.0.1:1"
