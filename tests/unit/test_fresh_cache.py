"""`FreshCache`: read-model lookups kept only while the projector has applied nothing new."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from intentml.api.serving_cache import FreshCache
from intentml.events.checkpoints import CheckpointWatcher


class _Watcher:
    """The two attributes of a CheckpointWatcher the cache reads."""

    def __init__(self) -> None:
        self.generation = 0
        self.alive = True


def _cache(watcher: _Watcher) -> FreshCache[Any]:
    return FreshCache(cast(CheckpointWatcher, watcher))


async def test_hits_until_the_generation_moves() -> None:
    watcher = _Watcher()
    cache = _cache(watcher)
    loads: list[int] = []

    async def load() -> int:
        loads.append(watcher.generation)
        return len(loads)

    assert await cache.get("k", load) == 1
    assert await cache.get("k", load) == 1
    watcher.generation += 1
    assert await cache.get("k", load) == 2
    assert loads == [0, 1]


async def test_a_batch_applied_during_the_load_is_not_cached() -> None:
    watcher = _Watcher()
    cache = _cache(watcher)
    gate, started = asyncio.Event(), asyncio.Event()
    calls = 0

    async def slow_load() -> str:
        nonlocal calls
        calls += 1
        started.set()
        await gate.wait()
        return f"row{calls}"

    pending = asyncio.create_task(cache.get("k", slow_load))
    await started.wait()  # the load runs, with the generation captured
    watcher.generation += 1  # the projector applied a batch meanwhile
    gate.set()
    assert await pending == "row1"
    assert await cache.get("k", slow_load) == "row2"  # stale value was not kept
    assert await cache.get("k", slow_load) == "row2"


async def test_nothing_is_cached_without_a_live_listener() -> None:
    watcher = _Watcher()
    watcher.alive = False
    cache = _cache(watcher)
    calls = 0

    async def load() -> None:
        nonlocal calls
        calls += 1

    await cache.get("k", load)
    await cache.get("k", load)
    assert calls == 2
