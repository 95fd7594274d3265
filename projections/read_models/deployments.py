"""Deployments as the API reads them: one, a model's live ones, and one to serve through.

Also the SQL of a model's (or a version's) deployment status, which the model and
version reads select.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from intentml.domain.statuses import (
    MODEL_DEPLOYMENT_STATUS_BY_PRECEDENCE,
    DeploymentStatus,
    VersionStatus,
    sql_literal,
)
from projections.queries import DEPLOYMENT
from projections.read_models import Queryable, decode_all, decode_optional

#: The deployment status of a model (or of one of its versions, with `AND d.version = ...`):
#: a `ModelDeploymentStatus`, or NULL when none of its deployments is live.
_DEPLOYMENT_STATUS_CASES = "\n".join(
    f"WHEN bool_or(d.status = {sql_literal(live)}) THEN {sql_literal(summary)}"
    for live, summary in MODEL_DEPLOYMENT_STATUS_BY_PRECEDENCE
)
_DEPLOYMENT_STATUS = f"""
(SELECT CASE {_DEPLOYMENT_STATUS_CASES} END
 FROM deployments d WHERE d.model_id = m.model_id AND d.ended_at IS NULL {{version_filter}})
"""
MODEL_DEPLOYMENT_STATUS = _DEPLOYMENT_STATUS.format(version_filter="")
VERSION_DEPLOYMENT_STATUS = _DEPLOYMENT_STATUS.format(version_filter="AND d.version = v.version")

LIVE_DEPLOYMENTS = """
SELECT d.*, v.version_id FROM deployments d
JOIN versions v ON v.model_id = d.model_id AND v.version = d.version
WHERE d.model_id = $1 AND d.ended_at IS NULL
ORDER BY d.created_at DESC
"""
#: A deployment as the API may see it: only the caller's account's.
ACCOUNT_DEPLOYMENT = DEPLOYMENT + " AND d.account_id = $2"

SERVING_DEPLOYMENT = """
SELECT d.deployment_id, d.status AS deployment_status, d.environment, v.model_id, v.version,
       v.version_id, v.status, v.artifact, v.model_name
FROM deployments d JOIN models m USING (model_id)
JOIN versions v ON v.model_id = d.model_id AND v.version = d.version
WHERE d.account_id = $1 AND d.deployment_id = $2 AND m.deleted_at IS NULL
"""


class DeploymentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A deployment's row, with its version's id."""

    deployment_id: str
    model_id: str
    account_id: str
    model_name: str
    version: int
    environment: str
    replicas: int
    auto_scale: bool
    status: DeploymentStatus
    error_message: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None
    version_id: str


class ServingDeploymentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What `/predict/{deployment_id}` needs: the deployment's status and its version's."""

    deployment_id: str
    deployment_status: DeploymentStatus
    environment: str
    model_id: str
    version: int
    version_id: str
    status: VersionStatus
    artifact: str | None
    model_name: str


async def account_deployment(
    db: Queryable, account_id: str, deployment_id: str
) -> DeploymentRecord | None:
    """The account's deployment `deployment_id`, live or ended; None if it has none."""
    row = await db.fetchrow(ACCOUNT_DEPLOYMENT, deployment_id, account_id)
    return decode_optional(row, DeploymentRecord)


async def live_deployments(db: Queryable, model_id: str) -> list[DeploymentRecord]:
    """The model's live deployments (DEPLOYING, ACTIVE, UNDEPLOYING), newest first."""
    return decode_all(await db.fetch(LIVE_DEPLOYMENTS, model_id), DeploymentRecord)


async def deployment_to_serve(
    db: Queryable, account_id: str, deployment_id: str
) -> ServingDeploymentRecord | None:
    """The account's deployment of a live model with its version, in one query; None if
    there is none (whatever its status: the caller decides whether it may serve)."""
    row = await db.fetchrow(SERVING_DEPLOYMENT, account_id, deployment_id)
    return decode_optional(row, ServingDeploymentRecord)
