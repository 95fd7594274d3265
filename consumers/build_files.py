"""A build's files: its dataset fetched from the blob store, its artifact stored there.

Kept apart from the trainer's job handling: whatever runs a build (a thread, a process,
a Dask worker on another host) gets local paths in and leaves a local directory, and
only this moves files between that machine and the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from intentml.infra.blobs import BlobNotFound, BlobStore
from intentml.ml.errors import TrainingFailed

T = TypeVar("T")


async def build_through_store(
    blobs: BlobStore,
    dataset_key: str,
    artifact: str,
    run: Callable[[Path, Path], Awaitable[T]],
) -> T:
    """Fetch the dataset at `dataset_key` to this machine (its cache), `run(dataset,
    artifact_dir)` with a fresh local `artifact_dir`, then store that directory under
    `artifact`; the run's result. Nothing is stored when the run fails."""
    try:
        dataset = await blobs.fetch(dataset_key)
    except BlobNotFound as exc:
        raise TrainingFailed(
            "dataset_invalid", f"the upload's file is not in the store ({exc}); upload it again"
        ) from exc
    with blobs.scratch() as scratch:
        artifact_dir = scratch / "artifact"
        result = await run(dataset, artifact_dir)
        await blobs.put_dir(artifact, artifact_dir)
    return result
