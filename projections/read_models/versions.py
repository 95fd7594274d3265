"""Versions as the API reads them: by number, by id, `latest`, and a model's list.

The same row serves every read of a version, the prediction path's too (`/infer`
resolves its version with one of these queries, cached by the API between changes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from intentml.domain.statuses import ModelDeploymentStatus, VersionStatus, sql_literal
from projections.read_models import Queryable, decode_all, decode_optional
from projections.read_models.deployments import VERSION_DEPLOYMENT_STATUS

_VERSION_SELECT = f"""
SELECT v.*, m.name, m.description, m.tags, m.created_by AS model_created_by,
       {VERSION_DEPLOYMENT_STATUS} AS deployment_status
FROM versions v JOIN models m USING (model_id)
WHERE m.account_id = $1 AND m.model_name = $2 AND m.deleted_at IS NULL
"""
VERSION = _VERSION_SELECT + " AND v.version = $3"
VERSION_BY_ID = _VERSION_SELECT + " AND v.version_id = $3"
#: `latest`: the newest READY version, or the newest one when none is READY yet.
LATEST_VERSION = (
    _VERSION_SELECT
    + f" ORDER BY (v.status = {sql_literal(VersionStatus.READY)}) DESC, v.version DESC LIMIT 1"
)
VERSIONS = _VERSION_SELECT + " ORDER BY v.version DESC"


class VersionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A version's row (each field named as its column), with its model's name,
    description and tags and the version's deployment status."""

    model_id: str
    version: int
    version_id: str
    job_id: str
    account_id: str
    model_name: str
    status: VersionStatus
    build_progress: int
    upload_id: str
    intent: str
    target: str
    target_reason: str
    requested_metric: str | None
    task: str | None
    metric_name: str | None
    metric_value: float | None
    metrics: dict[str, float] | None
    feature_importance: dict[str, float] | None
    features: list[str] | None
    dropped_columns: dict[str, str] | None
    rows_used: int | None
    training_seconds: float | None
    artifact: str | None
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    source: str
    max_iterations: int | None
    created_by: str
    #: The build's report as stored (a `TrainingReport`'s builtins), decoded only by
    #: `describe`: the prediction path reads this row too and never needs it.
    report: dict[str, Any] | None
    time_budget_s: float | None
    build_attempts: int
    # --- of its model, and its deployments ---
    name: str
    description: str
    tags: list[str]
    model_created_by: str
    deployment_status: ModelDeploymentStatus | None


async def version_by_number(
    db: Queryable, account_id: str, model_name: str, version: int
) -> VersionRecord | None:
    """Version `version` of the account's live model of that name, or None."""
    row = await db.fetchrow(VERSION, account_id, model_name, version)
    return decode_optional(row, VersionRecord)


async def version_by_id(
    db: Queryable, account_id: str, model_name: str, version_id: str
) -> VersionRecord | None:
    """The version with that version_id of the account's live model of that name, or None."""
    row = await db.fetchrow(VERSION_BY_ID, account_id, model_name, version_id)
    return decode_optional(row, VersionRecord)


async def latest_version(db: Queryable, account_id: str, model_name: str) -> VersionRecord | None:
    """`latest` of the account's live model of that name: its newest READY version, else
    its newest; None without such a model."""
    row = await db.fetchrow(LATEST_VERSION, account_id, model_name)
    return decode_optional(row, VersionRecord)


async def versions_of_model(db: Queryable, account_id: str, model_name: str) -> list[VersionRecord]:
    """Every version of the account's live model of that name, newest first."""
    return decode_all(await db.fetch(VERSIONS, account_id, model_name), VersionRecord)


QUEUE_PLACE = "SELECT position, reason FROM build_queue WHERE job_id = $1"


class QueuePlace(msgspec.Struct, frozen=True, kw_only=True):
    """Where a PENDING build stands in its trainer's queue (1: starts next), and why it
    waits (written by the trainer, `consumers.build_queue`)."""

    position: int
    reason: str


async def queue_place(db: Queryable, job_id: str) -> QueuePlace | None:
    """The queue place of build `job_id`, or None (not queued, or not yet heard of)."""
    row = await db.fetchrow(QUEUE_PLACE, job_id)
    return None if row is None else QueuePlace(position=row["position"], reason=row["reason"])
