"""Caches of the serving path: loaded models per artifact, and read-model lookups.

Artifacts of a version never change once written, so a cached model is valid
for as long as the version exists; the read model decides whether it may serve.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

from intentml.events.checkpoints import CheckpointWatcher
from intentml.infra.storage import resolve_in
from intentml.ml.serving import LoadedModel

T = TypeVar("T")


class ModelCache:
    """A small LRU of `LoadedModel`s keyed by artifact path (relative to the data dir)."""

    def __init__(self, data_dir: Path, capacity: int = 64) -> None:
        self.data_dir = data_dir
        self.capacity = capacity
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._loading: dict[str, asyncio.Future[LoadedModel]] = {}

    async def get(self, artifact: str) -> LoadedModel:
        """The model stored at `artifact`, loading it off the event loop on a miss."""
        model = self._models.get(artifact)
        if model is not None:
            self._models.move_to_end(artifact)
            return model
        pending = self._loading.get(artifact)
        if pending is None:
            # one load per artifact, however many requests miss at once
            pending = asyncio.ensure_future(
                asyncio.to_thread(LoadedModel.load, resolve_in(self.data_dir, artifact))
            )
            self._loading[artifact] = pending
        try:
            model = await pending
        finally:
            self._loading.pop(artifact, None)
        self._models[artifact] = model
        while len(self._models) > self.capacity:
            self._models.popitem(last=False)
        return model


class FreshCache(Generic[T]):
    """Read-model lookups cached until the projector applies anything new.

    Every applied batch bumps the checkpoint watcher's generation (the NOTIFY
    arrives before any command waiting on that batch is answered), so a cached
    row is never older than the caller's own last write. Without a live LISTEN
    connection nothing is cached.
    """

    def __init__(self, watcher: CheckpointWatcher, capacity: int = 10_000) -> None:
        self.watcher = watcher
        self.capacity = capacity
        self._generation = -1
        self._rows: dict[Hashable, T | None] = {}

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T | None]]) -> T | None:
        """The cached value of `key`, or `load()`'s (stored unless the read models moved)."""
        generation = self.watcher.generation
        if generation != self._generation:
            self._rows.clear()
            self._generation = generation
        elif key in self._rows:
            return self._rows[key]
        value = await load()
        # A batch applied while loading may have changed the row: then don't keep it.
        if self.watcher.alive and self.watcher.generation == generation:
            if len(self._rows) >= self.capacity:
                self._rows.clear()
            self._rows[key] = value
        return value
