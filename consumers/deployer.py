"""The deployer: a trained version becomes READY only after serving it once.

It loads the artifact through the same code the API serves with, validates a
sample input against the version's input schema and predicts it. Any failure
is the build's failure, with the reason, so a READY version always serves.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from consumers.worker import WorkerContext
from intentml.domain.fold import FINAL_STATUSES
from intentml.events.envelope import Envelope
from intentml.events.types import BuildFailed, VersionReady, VersionTrained
from intentml.ml.serving import LoadedModel
from projections import queries as q

log = logging.getLogger(__name__)


def smoke_test(artifact_dir: Path) -> dict[str, Any]:
    """Load the artifact, validate its sample input and predict it; raises on any failure."""
    model = LoadedModel.load(artifact_dir)
    sample = model.sample_input()
    errors, _ = model.validate(sample)
    if errors:
        raise ValueError(f"the sample input fails the input schema: {errors}")
    return model.predict_one(sample)


class DeployerHandler:
    """Checks every accepted `VersionTrained` through the serving path."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    async def handle(self, ctx: WorkerContext, env: Envelope, partition: int, offset: int) -> None:
        """Serve a sample through a freshly trained version, then mark it READY or failed."""
        d = env.data
        if not isinstance(d, VersionTrained) or not await ctx.accepted(env, partition, offset):
            return
        row = await ctx.pool.fetchrow(q.VERSION_BY_JOB, d.job_id)
        if row is None or row["status"] in FINAL_STATUSES:
            return  # redelivered after the verdict: nothing left to check
        try:
            output = await asyncio.to_thread(smoke_test, self.data_dir / d.artifact)
        except Exception as exc:
            log.warning("serving check of %s v%s failed: %s", env.model_name, d.version, exc)
            await ctx.emit(
                env,
                BuildFailed(
                    job_id=d.job_id,
                    version=d.version,
                    code="serving_check_failed",
                    message=f"the trained model could not serve a sample prediction: {exc}",
                ),
            )
            return
        await ctx.emit(env, VersionReady(job_id=d.job_id, version=d.version, sample_output=output))
