"""Fixtures of the end-to-end tests: `intentml up` in a data dir of the test's own."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from intentml.infra.embedded import free_port
from tests.e2e.platform import Platform


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A platform on a free port; stopped in order afterwards (killed if it hangs)."""
    p = Platform(tmp_path / "data", free_port())
    yield p
    if p.proc and p.proc.poll() is None:
        p.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.proc.wait(90)
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()
