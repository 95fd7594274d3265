"""The statuses of the read models: one enum each, for the fold, the rows and the SQL.

The fold (`intentml.domain.fold`) keeps the statuses it judges by, the projection
(`projections.rows`) writes them into the read models, and the SQL of
`projections.queries` filters on them: all three use these members, so a status
is spelled in one place. Members are `StrEnum`s: equal to their text, stored and
sent as it, so rows read back from PostgreSQL (plain strings) compare equal.
"""

from __future__ import annotations

from enum import StrEnum


class VersionStatus(StrEnum):
    """Where a version's build is: PENDING → BUILDING → READY or ERROR; CANCELLED from
    PENDING or BUILDING when a user stopped the build."""

    PENDING = "PENDING"
    BUILDING = "BUILDING"
    READY = "READY"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"


#: A version with its verdict: a later worker result for it is a duplicate.
FINAL_VERSION_STATUSES = frozenset(
    {VersionStatus.READY, VersionStatus.ERROR, VersionStatus.CANCELLED}
)


class DeploymentStatus(StrEnum):
    """A deployment's status. The first three are live (the fold keeps those); the rest
    say why it ended, and exist only in the read model."""

    DEPLOYING = "DEPLOYING"
    ACTIVE = "ACTIVE"
    UNDEPLOYING = "UNDEPLOYING"
    #: Another deployment of the same environment became ACTIVE.
    REPLACED = "REPLACED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"
    #: Its model was deleted.
    DELETED = "DELETED"


class ModelDeploymentStatus(StrEnum):
    """What a model's (or one version's) live deployments add up to, in the API's
    `deployment_status` (None when nothing is live)."""

    DEPLOYED = "DEPLOYED"
    DEPLOYING = "DEPLOYING"
    UNDEPLOYING = "UNDEPLOYING"


#: Which live deployment status makes which summary, first match wins: one ACTIVE
#: deployment makes the model DEPLOYED whatever else is going on.
MODEL_DEPLOYMENT_STATUS_BY_PRECEDENCE: tuple[
    tuple[DeploymentStatus, ModelDeploymentStatus], ...
] = (
    (DeploymentStatus.ACTIVE, ModelDeploymentStatus.DEPLOYED),
    (DeploymentStatus.DEPLOYING, ModelDeploymentStatus.DEPLOYING),
    (DeploymentStatus.UNDEPLOYING, ModelDeploymentStatus.UNDEPLOYING),
)


class KeyStatus(StrEnum):
    """An API key's status, as `GET /auth/api-keys` shows it (from `revoked_at`)."""

    ACTIVE = "active"
    REVOKED = "revoked"


def sql_literal(status: StrEnum) -> str:
    """A status as an SQL string literal, for queries composed at import time: the
    members are fixed upper-case words, never user input, so nothing needs escaping
    (checked anyway, so a member with a quote can never reach the SQL)."""
    if not status.value.isidentifier():
        raise ValueError(f"not a plain word: {status.value!r}")
    return f"'{status.value}'"
