"""Caches of the serving path: loaded models per artifact, and read-model lookups.

Artifacts of a version never change once written, so a cached model is valid
for as long as the version exists; the read model decides whether it may serve.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from intentml.events.checkpoints import CheckpointWatcher
from intentml.infra.blobs import BlobStore
from intentml.infra.db import DB_UNAVAILABLE
from intentml.ml.serving import LoadedModel

T = TypeVar("T")


class ModelCache:
    """A small LRU of `LoadedModel`s keyed by artifact ref, loaded from the blob store
    (fetched to this machine's disk first when the store is remote)."""

    def __init__(self, blobs: BlobStore, capacity: int = 64) -> None:
        self.blobs = blobs
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
            pending = asyncio.ensure_future(self._load(artifact))
            self._loading[artifact] = pending
        try:
            model = await pending
        finally:
            self._loading.pop(artifact, None)
        self._models[artifact] = model
        while len(self._models) > self.capacity:
            self._models.popitem(last=False)
        return model

    async def _load(self, artifact: str) -> LoadedModel:
        path = await self.blobs.fetch_dir(artifact)
        return await asyncio.to_thread(LoadedModel.load, path)


class FreshCache(Generic[T]):
    """Read-model lookups cached until the projector applies anything new, and served
    stale while the database cannot be reached.

    Every applied batch bumps the checkpoint watcher's generation (the NOTIFY
    arrives before any command waiting on that batch is answered), so a cached
    row is never older than the caller's own last write. Without a live LISTEN
    connection nothing is cached as fresh.

    Stale-if-error: the last value loaded for each key is also kept, with when it was
    loaded; when a load fails because PostgreSQL is down or too slow (`DB_UNAVAILABLE`)
    and that value is younger than `stale_s`, it is served instead of the error (and for
    `recheck_s` after, without asking the database again). So a
    READY model keeps serving through an outage of the database, and what changed in the
    read models meanwhile (a revocation, an undeploy) is heard once it is back.
    """

    def __init__(
        self,
        watcher: CheckpointWatcher,
        capacity: int = 10_000,
        stale_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        recheck_s: float = 1.0,
    ) -> None:
        self.watcher = watcher
        self.capacity = capacity
        self.stale_s = stale_s
        self.clock = clock
        #: After a load failed for want of the database, stale values are served without
        #: asking it for this long: one request per `recheck_s` pays the timeout, not all.
        self.recheck_s = recheck_s
        self._down_until = -math.inf
        self._generation = -1
        self._rows: dict[Hashable, T | None] = {}
        self._last: OrderedDict[Hashable, tuple[float, T | None]] = OrderedDict()

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T | None]]) -> T | None:
        """The cached value of `key`, or `load()`'s (stored unless the read models moved);
        the last one loaded when `load()` cannot reach the database (see the class)."""
        generation = self.watcher.generation
        if generation != self._generation:
            self._rows.clear()
            self._generation = generation
        elif key in self._rows:
            return self._rows[key]
        last = self._last.get(key)
        usable = last is not None and self.clock() - last[0] <= self.stale_s
        if usable and self.clock() < self._down_until:
            assert last is not None
            return last[1]  # the database just failed: don't make each request wait for it
        try:
            value = await load()
        except DB_UNAVAILABLE:
            self._down_until = self.clock() + self.recheck_s
            if not usable:
                raise
            assert last is not None
            return last[1]
        if self.stale_s > 0:
            self._last[key] = (self.clock(), value)
            self._last.move_to_end(key)
            while len(self._last) > self.capacity:
                self._last.popitem(last=False)
        # A batch applied while loading may have changed the row: then don't keep it.
        if self.watcher.alive and self.watcher.generation == generation:
            if len(self._rows) >= self.capacity:
                self._rows.clear()
            self._rows[key] = value
        return value
