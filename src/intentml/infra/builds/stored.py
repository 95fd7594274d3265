"""Builds whose files live in the blob store: a `BuildExecutor` over another one.

The trainer's jobs name their dataset and artifact by blob store key (what events
carry); this executor fetches the dataset to this machine (its cache), runs the inner
executor on local paths with a fresh scratch directory for the artifact, and stores
that directory under the artifact's key once the build trained. Only then does the
trainer emit `VersionTrained`, so a ref in the log always names a complete artifact.
"""

from __future__ import annotations

import logging

import msgspec

from intentml.infra.blobs import BlobNotFound, BlobStore
from intentml.infra.builds import BuildExecutor, BuildJob, BuildOutcome, Failed, Progress, Trained

log = logging.getLogger(__name__)


class StoredBuilds:
    """Runs jobs whose `dataset` and `artifact_dir` are blob store keys (see the module)
    on `inner`, which gets local paths."""

    def __init__(self, inner: BuildExecutor, blobs: BlobStore) -> None:
        self.inner = inner
        self.blobs = blobs
        self.capacity = inner.capacity

    async def run(self, job: BuildJob, progress: Progress) -> BuildOutcome:
        """Fetch, build, store; a `Failed` when the dataset or the store fails the build."""
        try:
            dataset = await self.blobs.fetch(job.dataset)
        except BlobNotFound as exc:
            return Failed("dataset_invalid", f"the upload's file is not in the store: {exc}")
        except Exception as exc:  # the store cannot be reached: say so, with its reason
            log.exception("build %s could not fetch %s", job.job_id, job.dataset)
            return Failed("store_unavailable", f"the dataset could not be fetched: {exc}")
        with self.blobs.scratch() as scratch:
            artifact_dir = scratch / "artifact"
            local = msgspec.structs.replace(
                job, dataset=str(dataset), artifact_dir=str(artifact_dir)
            )
            outcome = await self.inner.run(local, progress)
            if isinstance(outcome, Trained):
                try:
                    await self.blobs.put_dir(job.artifact_dir, artifact_dir)
                except Exception as exc:
                    log.exception("build %s could not store its artifact", job.job_id)
                    return Failed("store_unavailable", f"the model could not be stored: {exc}")
        return outcome

    def cancel(self, job_id: str, reason: str) -> bool:
        """Stop a running build (see `BuildExecutor.cancel`)."""
        return self.inner.cancel(job_id, reason)

    async def close(self) -> None:
        """Close the inner executor."""
        await self.inner.close()
