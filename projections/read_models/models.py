"""Models as the API reads them: one by name, one in detail, and a page of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from intentml.domain.statuses import ModelDeploymentStatus, VersionStatus, sql_literal
from projections.read_models import Queryable, decode_all, decode_optional, fetch_page
from projections.read_models.deployments import MODEL_DEPLOYMENT_STATUS

MODEL_BY_NAME = """
SELECT * FROM models WHERE account_id = $1 AND model_name = $2 AND deleted_at IS NULL
"""
#: A live model with its newest version, the newest trained one (metrics, schemas) and the
#: newest READY one (what `latest` serves).
MODEL_DETAIL = f"""
SELECT m.*, v.version, v.status, v.build_progress, v.target, v.task AS version_task,
       t.version AS trained_version, t.metric_name, t.metric_value, t.metrics,
       t.input_schema AS trained_input_schema, t.output_schema AS trained_output_schema,
       t.task, r.version AS ready_version,
       {MODEL_DEPLOYMENT_STATUS} AS deployment_status
FROM models m
JOIN versions v ON v.model_id = m.model_id AND v.version = m.latest_version
LEFT JOIN LATERAL (
    SELECT * FROM versions x WHERE x.model_id = m.model_id AND x.artifact IS NOT NULL
    ORDER BY x.version DESC LIMIT 1) t ON true
LEFT JOIN LATERAL (
    SELECT x.version FROM versions x
    WHERE x.model_id = m.model_id AND x.status = {sql_literal(VersionStatus.READY)}
    ORDER BY x.version DESC LIMIT 1) r ON true
WHERE m.account_id = $1 AND m.model_name = $2 AND m.deleted_at IS NULL
"""

#: Listing: filter by the newest version's status, sort on a whitelisted column.
_LIST_FROM = """
FROM models m JOIN versions v ON v.model_id = m.model_id AND v.version = m.latest_version
WHERE m.account_id = $1 AND m.deleted_at IS NULL AND ($2::text IS NULL OR v.status = $2)
"""
COUNT_MODELS = "SELECT count(*) " + _LIST_FROM
_LIST_ORDER = {
    ("created_at", "asc"): "m.created_at ASC, m.model_name ASC",
    ("created_at", "desc"): "m.created_at DESC, m.model_name ASC",
    ("name", "asc"): "m.model_name ASC",
    ("name", "desc"): "m.model_name DESC",
}
LIST_MODELS = {
    key: f"""
SELECT m.*, v.version, v.status, v.metric_name, v.metric_value, v.build_progress,
       {MODEL_DEPLOYMENT_STATUS} AS deployment_status
{_LIST_FROM}
ORDER BY {order} LIMIT $3 OFFSET $4
"""
    for key, order in _LIST_ORDER.items()
}


class ModelRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A model's row: what it is called, what it is for, its newest version number."""

    model_id: str
    account_id: str
    model_name: str
    name: str
    intent: str
    description: str
    tags: list[str]
    dataset_id: str
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    latest_version: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class ModelListingRecord(ModelRecord, frozen=True, kw_only=True):
    """A model in a listing: its row with its newest version's status and metric."""

    version: int
    status: VersionStatus
    metric_name: str | None
    metric_value: float | None
    build_progress: int
    deployment_status: ModelDeploymentStatus | None


class ModelDetailRecord(ModelRecord, frozen=True, kw_only=True):
    """A model in detail: its row, its newest version (`version`, `status`, ...), its
    newest trained version (`trained_*`, metrics, `task`) and its newest READY one."""

    version: int
    status: VersionStatus
    build_progress: int
    target: str
    version_task: str | None
    trained_version: int | None
    metric_name: str | None
    metric_value: float | None
    metrics: dict[str, float] | None
    trained_input_schema: dict[str, Any] | None
    trained_output_schema: dict[str, Any] | None
    task: str | None
    ready_version: int | None
    deployment_status: ModelDeploymentStatus | None


async def model_by_name(db: Queryable, account_id: str, model_name: str) -> ModelRecord | None:
    """The account's live model of that name, or None."""
    row = await db.fetchrow(MODEL_BY_NAME, account_id, model_name)
    return decode_optional(row, ModelRecord)


async def model_detail(db: Queryable, account_id: str, model_name: str) -> ModelDetailRecord | None:
    """The account's live model of that name in detail, or None."""
    row = await db.fetchrow(MODEL_DETAIL, account_id, model_name)
    return decode_optional(row, ModelDetailRecord)


async def models_page(
    db: Queryable,
    account_id: str,
    status: str | None,
    sort: tuple[str, str],
    limit: int,
    offset: int,
) -> tuple[list[ModelListingRecord], int]:
    """A page of the account's live models whose newest version has `status` (None: any),
    sorted by `sort` (a key of LIST_MODELS: field and direction); and the total."""
    rows, total = await fetch_page(
        db, COUNT_MODELS, LIST_MODELS[sort], (account_id, status), limit, offset
    )
    return decode_all(rows, ModelListingRecord), total
