"""`/models`: create (event-sourced), list, status and single-row inference."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from intentml.api.auth import Principal
from intentml.api.errors import ApiError
from intentml.api.platform import Platform, PlatformDep
from intentml.api.schemas import (
    CreateModelIn,
    CreateModelOut,
    ErrorInfo,
    InferOut,
    MetricResult,
    ModelList,
    ModelSummary,
    Pagination,
    StatusOut,
)
from intentml.domain.fold import READY
from intentml.domain.names import parse_version, valid_model_name, version_label
from intentml.events.envelope import make_event, new_id, utcnow
from intentml.events.types import ModelCreated, TrainingRequest
from intentml.ml.target import TargetResolutionError, resolve_target
from projections import queries as q

Req = Request[Principal, Any, State]


def check_name(model_name: str) -> None:
    """400 unless the name matches the documented pattern."""
    if not valid_model_name(model_name):
        raise ApiError(
            400,
            "model names are 1-100 characters of letters, digits, '-', '_' and '.',"
            " not starting with '.'",
            {"model_name": model_name},
        )


async def find_version(
    platform: Platform, account_id: str, model_name: str, model_version: str
) -> asyncpg.Record:
    """The version row a path names, or 404 that says what exists."""
    check_name(model_name)
    number = parse_version(model_version)
    if number is None:
        raise ApiError(400, f"'{model_version}' is not a version: use v1, v1.0 or 1")
    row = await platform.fetchrow(q.VERSION, account_id, model_name, number)
    if row is None:
        if await platform.fetchrow(q.MODEL_BY_NAME, account_id, model_name) is None:
            raise ApiError(
                404, f"model '{model_name}' not found; list your models with GET /models"
            )
        raise ApiError(404, f"model '{model_name}' has no version {version_label(number)}")
    return row


def status_out(row: asyncpg.Record) -> StatusOut:
    """The status document of a version row."""
    result = None
    if row["status"] == READY and row["metric_name"] is not None:
        result = MetricResult(row["metric_name"], row["metric_value"])
    error = None
    if row["error_code"] is not None:
        error = ErrorInfo(row["error_code"], row["error_message"])
    return StatusOut(
        model_name=row["model_name"],
        model_version=version_label(row["version"]),
        status=row["status"],
        deployment_status=None,
        last_updated=row["updated_at"],
        build_progress=row["build_progress"],
        result=result,
        error=error,
    )


class ModelController(Controller):
    path = "/models"
    tags = ["models"]

    @get("/", summary="The account's models")
    async def list_models(self, request: Req, platform: PlatformDep) -> ModelList:
        """Every live model of the account with its latest version's status."""
        rows = await platform.pool.fetch(q.LIST_MODELS, request.user.account_id)
        models = [
            ModelSummary(
                model_id=r["model_id"],
                model_name=r["model_name"],
                model_version=version_label(r["version"]),
                name=r["name"],
                intent=r["intent"],
                status=r["status"],
                deployment_status=None,
                provider="auto",
                metric_name=r["metric_name"],
                metric_value=r["metric_value"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
            )
            for r in rows
        ]
        return ModelList(models, Pagination(len(models), len(models), 0, False))

    @post("/{model_name:str}", status_code=202, summary="Create a model and train v1")
    async def create(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        data: JSONBody[CreateModelIn],
    ) -> Response[CreateModelOut]:
        """Validate against the read model, append `ModelCreated`, and wait for the verdict."""
        principal = request.user
        check_name(model_name)
        if not data.intent.strip():
            raise ApiError(
                422,
                "'intent' must say what to predict, e.g. 'Predict churn'",
                [{"field": "intent", "message": "must not be empty"}],
            )
        upload_id = data.upload_id or data.dataset_id
        if not upload_id:
            raise ApiError(
                422,
                "give the training data as 'upload_id' or 'dataset_id'",
                [{"field": "upload_id", "message": "required"}],
            )
        upload = await platform.fetchrow(q.UPLOAD, principal.account_id, upload_id)
        if upload is None:
            raise ApiError(404, f"upload '{upload_id}' not found; upload a file with POST /uploads")
        if await platform.fetchrow(q.MODEL_BY_NAME, principal.account_id, model_name):
            raise ApiError(
                409, f"a model named '{model_name}' already exists; pick another name or retrain it"
            )
        columns = [c["name"] for c in upload["columns"]]
        try:
            choice = resolve_target(columns, data.intent, data.target, data.output_schema)
        except TargetResolutionError as exc:
            raise ApiError(
                422, str(exc), {"candidates": exc.candidates, "columns": columns}
            ) from exc
        job_id, model_id = "job_" + new_id(), "model_" + new_id()
        training = TrainingRequest(
            job_id=job_id,
            version=1,
            version_id=new_id(),
            upload_id=upload_id,
            dataset_format=upload["format"],
            intent=data.intent,
            target=choice.column,
            target_reason=choice.reason,
            metric=data.metric,
            task=data.task,
            output_fields=_output_fields(data.output_schema),
        )
        event = make_event(
            ModelCreated(
                model_id=model_id,
                name=data.name or model_name,
                intent=data.intent,
                description=data.description or "",
                tags=data.tags or [],
                input_schema=data.input_schema,
                output_schema=data.output_schema,
                training=training,
            ),
            account_id=principal.account_id,
            model_name=model_name,
            actor=principal.key_id,
        )
        outcome = await platform.submit(event)
        if outcome.applied and not outcome.accepted:
            raise ApiError(409, f"{outcome.reason}; pick another name or retrain it")
        body = CreateModelOut(
            job_id=job_id,
            status="PENDING",
            model_id=model_id,
            model_name=model_name,
            model_version=version_label(1),
            name=data.name or model_name,
            intent=data.intent,
            provider="auto",
            upload_id=upload_id,
            dataset_id=upload_id,
            target=choice.column,
            target_reason=choice.reason,
            created_at=event.occurred_at,
        )
        location = f"/models/{model_name}/{version_label(1)}/status"
        return Response(body, status_code=202, headers={"Location": location})

    @get("/{model_name:str}/{model_version:str}/status", summary="A version's build status")
    async def status(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        model_version: FromPath[str],
    ) -> StatusOut:
        """PENDING → BUILDING → READY or ERROR, with progress, metric and error."""
        row = await find_version(platform, request.user.account_id, model_name, model_version)
        return status_out(row)

    @post("/{model_name:str}/{model_version:str}/infer", status_code=200, summary="Predict one row")
    async def infer(
        self,
        request: Req,
        platform: PlatformDep,
        model_name: FromPath[str],
        model_version: FromPath[str],
        data: JSONBody[dict[str, Any]],
    ) -> InferOut:
        """Validate one input object against the version's schema and predict."""
        row = await find_version(platform, request.user.account_id, model_name, model_version)
        if row["status"] != READY:
            raise ApiError(
                409,
                f"{model_name} {version_label(row['version'])} is "
                f"{row['status']}, not READY; poll its status first",
            )
        model = await platform.models.get(row["artifact"])
        errors, warnings = model.validate(data)
        if errors:
            raise ApiError(
                422,
                f"{len(errors)} input field(s) are not valid for this model",
                [{"field": e.field, "message": e.message, "expected": e.expected} for e in errors],
            )
        return InferOut(
            request_id="req_" + new_id(),
            result=model.predict_one(data),
            model_name=model_name,
            model_version=version_label(row["version"]),
            created_at=utcnow(),
            warnings=warnings,
        )


def _output_fields(schema: dict[str, Any] | None) -> list[str]:
    """The field names of an output schema, plain (`{"f": "float"}`) or JSON Schema."""
    if not schema:
        return []
    props = schema.get("properties")
    return list(props) if isinstance(props, dict) else list(schema)
