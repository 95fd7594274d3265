"""The deployer: nothing serves that has not served a sample first.

A trained version becomes READY only after its artifact was loaded through the
same code the API serves with and a sample input was validated and predicted;
any failure is the build's failure, with the reason. A deployment becomes
ACTIVE the same way (the artifact may have been lost since the build), and an
undeployment is confirmed with `DeploymentStopped`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, assert_never

from consumers.worker import WorkerContext
from intentml.domain.statuses import FINAL_VERSION_STATUSES, DeploymentStatus
from intentml.events.envelope import Envelope
from intentml.events.types import (
    AccountCreated,
    ApiKeyIssued,
    ApiKeyLimitsChanged,
    ApiKeyRevoked,
    BuildCancelled,
    BuildCancelRequested,
    BuildFailed,
    BuildProgressed,
    BuildStarted,
    DatasetUploaded,
    DeploymentActivated,
    DeploymentFailed,
    DeploymentRequested,
    DeploymentStopped,
    ModelCreated,
    ModelDeleted,
    ModelUpdated,
    UndeployRequested,
    VersionReady,
    VersionRequested,
    VersionTrained,
)
from intentml.infra.blobs import BlobStore, LocalBlobs
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
    """Checks trained versions and deployments through the serving path."""

    def __init__(self, data_dir: Path, blobs: BlobStore | None = None) -> None:
        self.data_dir = data_dir
        self.blobs = blobs or LocalBlobs(data_dir)

    async def handle(self, ctx: WorkerContext, env: Envelope, partition: int, offset: int) -> None:
        """React to trained versions, deployment and undeployment requests."""
        d = env.data
        match d:
            case VersionTrained() | DeploymentRequested() | UndeployRequested():
                if await ctx.accepted(env, partition, offset):
                    await self._act(ctx, env, d)
            case (
                AccountCreated()
                | ApiKeyIssued()
                | ApiKeyRevoked()
                | ApiKeyLimitsChanged()
                | DatasetUploaded()
                | ModelCreated()
                | VersionRequested()
                | ModelUpdated()
                | ModelDeleted()
                | DeploymentActivated()
                | DeploymentFailed()
                | DeploymentStopped()
                | BuildStarted()
                | BuildProgressed()
                | VersionReady()
                | BuildFailed()
                | BuildCancelRequested()
                | BuildCancelled()
            ):
                pass  # not the deployer's work
            case _:
                assert_never(d)

    async def _act(
        self,
        ctx: WorkerContext,
        env: Envelope,
        d: VersionTrained | DeploymentRequested | UndeployRequested,
    ) -> None:
        match d:
            case VersionTrained():
                await self._check_version(ctx, env, d)
            case DeploymentRequested():
                await self._activate(ctx, env, d)
            case UndeployRequested():
                await self._stop(ctx, env, d)
            case _:
                assert_never(d)

    async def _check_version(self, ctx: WorkerContext, env: Envelope, d: VersionTrained) -> None:
        row = await ctx.pool.fetchrow(q.VERSION_BY_JOB, d.job_id)
        if row is None or row["status"] in FINAL_VERSION_STATUSES:
            return  # redelivered after the verdict: nothing left to check
        try:
            output = await asyncio.to_thread(smoke_test, await self.blobs.fetch_dir(d.artifact))
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

    async def _activate(self, ctx: WorkerContext, env: Envelope, d: DeploymentRequested) -> None:
        dep = await ctx.pool.fetchrow(q.DEPLOYMENT, d.deployment_id)
        if dep is None or dep["status"] != DeploymentStatus.DEPLOYING:
            return  # redelivered, or the model was deleted meanwhile
        version = await ctx.pool.fetchrow(q.VERSION_OF_MODEL, d.model_id, d.version)
        try:
            if version is None or version["artifact"] is None:
                raise ValueError(f"version v{d.version} has no artifact")
            path = await self.blobs.fetch_dir(version["artifact"])
            await asyncio.to_thread(smoke_test, path)
        except Exception as exc:
            log.warning("deployment %s failed: %s", d.deployment_id, exc)
            message = f"v{d.version} could not serve a sample prediction: {exc}"
            await ctx.emit(env, DeploymentFailed(deployment_id=d.deployment_id, message=message))
            return
        await ctx.emit(env, DeploymentActivated(deployment_id=d.deployment_id, version=d.version))

    async def _stop(self, ctx: WorkerContext, env: Envelope, d: UndeployRequested) -> None:
        dep = await ctx.pool.fetchrow(q.DEPLOYMENT, d.deployment_id)
        if dep is None or dep["status"] != DeploymentStatus.UNDEPLOYING:
            return  # redelivered after it stopped
        # The API stops routing to an UNDEPLOYING deployment at once; nothing is held here.
        await ctx.emit(env, DeploymentStopped(deployment_id=d.deployment_id))
