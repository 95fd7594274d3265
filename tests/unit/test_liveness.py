"""`/health`'s probes: shared while running, abandoned (not awaited) when late."""

from __future__ import annotations

import asyncio

from intentml.api.liveness import _Probe


async def test_a_running_probe_is_shared_reported_down_while_late_and_run_again_after() -> None:
    gate = asyncio.Event()
    runs = 0

    async def run() -> str:
        nonlocal runs
        runs += 1
        await gate.wait()
        return "ok"

    probe = _Probe(run, reuse_s=0.0)
    first = probe.start()
    assert probe.start() is first and runs <= 1
    done, _ = await asyncio.wait({first}, timeout=0.05)
    assert not done and _Probe.result(first) is None  # late: down, still running
    gate.set()
    await first
    assert _Probe.result(first) == "ok" and runs == 1
    again = probe.start()
    assert again is not first
    await again
    assert runs == 2


async def test_a_failed_probe_is_down_and_its_error_is_retrieved() -> None:
    async def run() -> str:
        raise ConnectionRefusedError("nothing listens")

    probe = _Probe(run, reuse_s=0.0)
    task = probe.start()
    await asyncio.wait({task})
    assert _Probe.result(task) is None
