"""`FreshCache`: read-model lookups kept only while the projector has applied nothing new."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

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


async def test_serves_the_last_value_while_the_database_is_down_then_recovers() -> None:
    watcher = _Watcher()
    now = [0.0]
    cache: FreshCache[Any] = FreshCache(
        cast(CheckpointWatcher, watcher), stale_s=60.0, clock=lambda: now[0]
    )
    down = [False]

    async def load() -> str:
        if down[0]:
            raise ConnectionRefusedError("the database is down")
        return f"row@{watcher.generation}"

    assert await cache.get("k", load) == "row@0"
    watcher.generation += 1  # a batch was applied: the fresh copy is dropped
    watcher.alive = False  # and the LISTEN connection is gone with the database
    down[0] = True
    now[0] = 59.0
    assert await cache.get("k", load) == "row@0"  # stale, within the bound
    with pytest.raises(ConnectionRefusedError):
        await cache.get("never-loaded", load)
    # Within `recheck_s` of the failure the database is not asked again.
    down[0], now[0] = False, 59.5
    assert await cache.get("k", load) == "row@0"
    down[0], now[0] = True, 61.0
    with pytest.raises(ConnectionRefusedError):  # too old to serve
        await cache.get("k", load)
    down[0], watcher.alive = False, True
    assert await cache.get("k", load) == "row@1"


async def test_other_errors_are_not_hidden_by_stale_values() -> None:
    watcher = _Watcher()
    cache: FreshCache[Any] = FreshCache(cast(CheckpointWatcher, watcher), stale_s=60.0)
    assert await cache.get("k", _value("v")) == "v"
    watcher.generation += 1

    async def broken() -> str:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        await cache.get("k", broken)


def _value(v: str) -> Any:
    async def load() -> str:
        return v

    return load
