"""Loaded models, cached in memory per version artifact.

Artifacts of a version never change once written, so a cached model is valid
for as long as the version exists; the read model decides whether it may serve.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path

from intentml.ml.serving import LoadedModel


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
                asyncio.to_thread(LoadedModel.load, self.data_dir / artifact)
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
