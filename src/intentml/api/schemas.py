"""Request and response bodies of the REST API (msgspec Structs, so OpenAPI is generated)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class ColumnOut(msgspec.Struct, frozen=True):
    name: str
    type: str


class UploadOut(msgspec.Struct, frozen=True):
    upload_id: str
    dataset_id: str
    filename: str
    format: str
    rows: int
    columns: list[ColumnOut]
    size_bytes: int
    status: str
    created_at: datetime


class CreateModelIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of `POST /models/{model_name}`: give `upload_id` or `dataset_id`."""

    intent: str
    upload_id: str | None = None
    dataset_id: str | None = None
    metric: str | None = None
    name: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    tags: list[str] | None = None
    target: str | None = None
    task: str | None = None


class CreateModelOut(msgspec.Struct, frozen=True):
    job_id: str
    status: str
    model_id: str
    model_name: str
    model_version: str
    name: str
    intent: str
    provider: str
    upload_id: str
    dataset_id: str
    target: str
    target_reason: str
    created_at: datetime


class MetricResult(msgspec.Struct, frozen=True):
    metric_name: str
    metric_value: float


class ErrorInfo(msgspec.Struct, frozen=True):
    code: str
    message: str


class StatusOut(msgspec.Struct, frozen=True):
    model_name: str
    model_version: str
    status: str
    deployment_status: str | None
    last_updated: datetime
    build_progress: int
    result: MetricResult | None
    error: ErrorInfo | None


class InferOut(msgspec.Struct, frozen=True):
    request_id: str
    result: dict[str, Any]
    model_name: str
    model_version: str
    created_at: datetime
    warnings: list[str] = msgspec.field(default_factory=list)


class ModelSummary(msgspec.Struct, frozen=True):
    model_id: str
    model_name: str
    model_version: str
    name: str
    intent: str
    status: str
    deployment_status: str | None
    provider: str
    metric_name: str | None
    metric_value: float | None
    created_at: datetime
    updated_at: datetime


class Pagination(msgspec.Struct, frozen=True):
    total: int
    limit: int
    offset: int
    has_more: bool


class ModelList(msgspec.Struct, frozen=True):
    models: list[ModelSummary]
    pagination: Pagination


class HealthOut(msgspec.Struct, frozen=True):
    status: str
    database: str
    kafka: str
    projector: str
