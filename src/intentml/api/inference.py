"""Predictions: one row (`/infer`, `/predict/{deployment_id}`) or a batch (`/predictions`).

The hot path: the version or deployment a path names is resolved from a cache
that the projector's checkpoints invalidate, the model is cached per artifact,
and every row is validated against the version's input schema before LightGBM
sees it. A batch body is read raw and decoded straight into the model's own row
type (`LoadedModel.decode_batch`), falling back to plain JSON for the exact errors;
large batches run off the event loop so single rows are not starved.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Response, post
from litestar.exceptions import ClientException, ValidationException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from intentml.api.errors import ApiError
from intentml.api.lookups import Req, find_version
from intentml.api.platform import Platform
from intentml.api.schemas import (
    ExplainedInferOut,
    ExplainedPredictionOut,
    ExplanationOut,
    InferOut,
    PredictionOut,
)
from intentml.domain.names import version_label
from intentml.domain.statuses import DeploymentStatus, VersionStatus
from intentml.events.envelope import new_id, utcnow
from intentml.ml.serving import InputError, LoadedModel, RowBatch
from projections.read_models.deployments import ServingDeploymentRecord, deployment_to_serve
from projections.read_models.versions import VersionRecord

#: The most rows one `/predictions` request may carry (more → 413).
MAX_BATCH_ROWS = 100_000
#: Batch bodies up to this size (about 200 rows) are predicted on the event loop (cheaper
#: than a thread hop); larger ones in a thread, so single rows are not starved.
INLINE_BATCH_BYTES = 32 * 1024
#: How many warnings a batch response lists in its `X-Warnings` header.
MAX_HEADER_WARNINGS = 20


_any_json = msgspec.json.Decoder()

#: `?explain=true`, documented where clients read it (the OpenAPI parameter).
Explain = Annotated[
    bool,
    QueryParameter(
        description=(
            "Add an `explanation` to each prediction: LightGBM's own contribution of each "
            "input field to the model's raw score (base_value + contributions = raw_score). "
            "`scale` says what the raw score is: `log_odds` of `positive_class` (binary), "
            "`value` (regression: the prediction itself), `logit` (multiclass: one split "
            "per class in `classes`; the probabilities are their softmax). A date input's "
            "derived parts are summed into its field."
        )
    ),
]


@dataclass
class BatchOperation(Operation):
    """The OpenAPI operation of `/predictions`, with the request body the handler reads itself.

    The handler takes the raw body (decoding it per model is the fast path), so Litestar
    sees no `data` parameter to document: the body is declared here.
    """

    def __post_init__(self) -> None:
        items = Schema(type=OpenAPIType.OBJECT, additional_properties=True)
        schema = Schema(type=OpenAPIType.ARRAY, items=items, max_items=MAX_BATCH_ROWS)
        self.request_body = RequestBody(
            content={"application/json": OpenAPIMediaType(schema=schema)},
            description=f"An array of up to {MAX_BATCH_ROWS:,} input objects",
            required=True,
        )


def validation_error(errors: Sequence[InputError], rows: int | None = None) -> ApiError:
    """422 listing every bad field with its path and what was expected."""
    where = "" if rows is None else f" (in a batch of {rows} rows)"
    return ApiError(
        422,
        f"{len(errors)} input field(s) are not valid for this model{where}; "
        "see details for each field and what it expects",
        [{"field": e.field, "message": e.message, "expected": e.expected} for e in errors],
    )


async def serving_version(
    platform: Platform, account_id: str, model_name: str, model_version: str
) -> VersionRecord:
    """The READY version a prediction path names (cached between read-model changes)."""

    async def load() -> VersionRecord:
        return await find_version(platform, account_id, model_name, model_version)

    key = ("version", account_id, model_name, model_version)
    row: VersionRecord | None = await platform.lookups.get(key, load)
    assert row is not None  # find_version raises instead of returning None
    if row.status != VersionStatus.READY:
        raise ApiError(
            409,
            f"{model_name} {version_label(row.version)} is {row.status}, not READY; "
            f"poll GET /models/{model_name}/{version_label(row.version)}/status",
        )
    return row


async def serving_deployment(
    platform: Platform, account_id: str, deployment_id: str
) -> ServingDeploymentRecord:
    """The ACTIVE deployment `deployment_id` names, with its version (cached likewise)."""

    async def load() -> ServingDeploymentRecord | None:
        return await deployment_to_serve(platform.pool, account_id, deployment_id)

    row: ServingDeploymentRecord | None = await platform.lookups.get(
        ("deployment", account_id, deployment_id), load
    )
    if row is None or row.deployment_status not in (
        DeploymentStatus.ACTIVE,
        DeploymentStatus.DEPLOYING,
    ):
        raise ApiError(
            404,
            f"no active deployment '{deployment_id}'; it was undeployed, its model deleted, "
            "or it never existed (GET /models/{model_name}/deployments lists them)",
        )
    if row.deployment_status == DeploymentStatus.DEPLOYING:
        raise ApiError(409, f"deployment '{deployment_id}' is still DEPLOYING; retry shortly")
    return row


def hot_platform(request: Req) -> Platform:
    """The platform, read straight from the app state.

    The prediction handlers skip dependency injection: resolving it (a State
    object, the provider call) was about 15 % of a single-row request's CPU.
    """
    platform: Platform = request.app.state.platform
    return platform


def predict_one(
    model: LoadedModel, row: Mapping[str, Any], strict: bool, explain: bool = False
) -> tuple[Any, list[str], dict[str, Any] | None]:
    """Validate and predict one row; 422 with every bad field.

    Returns the result, the warnings and, when `explain`, the explanation.
    """
    errors, warnings = model.validate(row, strict=strict)
    if errors:
        raise validation_error(errors)
    explanation = model.explain_one(row) if explain else None
    return model.predict_one(row), warnings, explanation


def predict_batch(
    model: LoadedModel, rows: Sequence[Any] | RowBatch, strict: bool, explain: bool = False
) -> tuple[bytes, list[str]]:
    """Validate and predict a batch; the JSON answer, in row order, and the warnings."""
    errors, warnings, answer = model.validate_and_predict_json(rows, strict, explain)
    if errors or answer is None:
        raise validation_error(errors, len(rows))
    return answer, warnings


def batch_rows(body: bytes, where: str) -> list[Any]:
    """A `/predictions` body decoded as plain JSON: a list of anything, else a 400.

    Answers as Litestar did when it decoded the body for the handler. An element that is
    not an object stays in the list: it is a 422 naming it (`[3]`) like every other bad
    row, not a 400 that doesn't say which element. `where` is the request's method and path.
    """
    try:
        rows = _any_json.decode(body or b"null")
    except msgspec.DecodeError as exc:
        raise ClientException(str(exc)) from exc
    if not isinstance(rows, list):
        try:
            msgspec.convert(rows, list[Any])
        except msgspec.ValidationError as exc:
            extra = [{"message": str(exc), "key": "data", "source": "body"}]
            raise ValidationException(f"Validation failed for {where}", extra=extra) from exc
    return cast(list[Any], rows)


def check_batch_size(rows: Sequence[Any] | RowBatch) -> None:
    """413 for more rows than a request may carry."""
    if len(rows) > MAX_BATCH_ROWS:
        raise ApiError(
            413,
            f"{len(rows):,} rows is more than the {MAX_BATCH_ROWS:,} a request may carry; "
            "split the batch",
            {"rows": len(rows), "max_rows": MAX_BATCH_ROWS},
        )


def answer_batch(
    model: LoadedModel, body: bytes, strict: bool, explain: bool, where: str
) -> tuple[bytes, list[str]]:
    """The `/predictions` answer to a raw body: the JSON, in row order, and the warnings.

    The body is decoded into the model's own row type where it fits (about twice as fast
    as dicts), else as plain JSON, which gets every error exactly as before.
    """
    rows: Sequence[Any] | RowBatch | None = model.decode_batch(body)
    if rows is None:
        rows = batch_rows(body, where)
    check_batch_size(rows)
    return predict_batch(model, rows, strict, explain)


async def answer_one(
    platform: Platform,
    row: VersionRecord | ServingDeploymentRecord,
    data: Mapping[str, Any],
    strict: bool,
    explain: bool,
    deployment_id: str | None = None,
) -> InferOut:
    """The `/infer` answer of the version `row` for one input row."""
    assert row.artifact is not None  # a READY version's, or an ACTIVE deployment's
    model = await platform.models.get(row.artifact)
    result, warnings, explanation = predict_one(model, data, strict, explain)
    answer = InferOut(
        request_id="req_" + new_id(),
        result=result,
        model_name=row.model_name,
        model_version=version_label(row.version),
        created_at=utcnow(),
        warnings=warnings,
        deployment_id=deployment_id,
    )
    if explanation is None:
        return answer
    return ExplainedInferOut(
        **msgspec.structs.asdict(answer),
        explanation=msgspec.convert(explanation, ExplanationOut),
    )


class InferenceController(Controller):
    tags = ["inference"]

    @post(
        "/models/{model_name:str}/{model_version:str}/infer",
        status_code=200,
        summary="Predict one row with any READY version",
    )
    async def infer(
        self,
        request: Req,
        model_name: FromPath[str],
        model_version: FromPath[str],
        data: JSONBody[dict[str, Any]],
        strict: FromQuery[bool] = False,
        explain: Explain = False,
    ) -> InferOut | ExplainedInferOut:
        """One input object in, the prediction out. Unknown fields → 422; columns the model
        ignores and category values never seen in training are warnings (422 with
        `?strict=true`). With `?explain=true` the answer carries an `explanation`: LightGBM's
        own contribution of each input field to the raw score (`base_value` +
        `contributions` = `raw_score`; `scale`: `log_odds` for binary, `value` for
        regression, `logit` per class for multiclass)."""
        platform = hot_platform(request)
        row = await serving_version(platform, request.user.account_id, model_name, model_version)
        return await answer_one(platform, row, data, strict, explain)

    @post(
        "/models/{model_name:str}/{model_version:str}/predictions",
        status_code=200,
        summary=f"Predict a batch of up to {MAX_BATCH_ROWS:,} rows",
        operation_class=BatchOperation,
    )
    async def predictions(
        self,
        request: Req,
        model_name: FromPath[str],
        model_version: FromPath[str],
        strict: FromQuery[bool] = False,
        explain: Explain = False,
    ) -> Response[list[PredictionOut] | list[ExplainedPredictionOut]]:
        """A JSON array of input objects in; `[{"prediction": {...}}, ...]` out, in the same
        order. Errors name the row: `[3].usage_minutes`. Warnings come in the `X-Warnings`
        header (a JSON array). With `?explain=true` each element also has an `explanation`,
        as `/infer` gives it."""
        body = await request.body()
        where = f"{request.method} {request.url.path}"
        if request.url.query:
            where += "?" + request.url.query
        platform = hot_platform(request)
        try:
            row = await serving_version(
                platform, request.user.account_id, model_name, model_version
            )
            assert row.artifact is not None  # READY: trained
            model = await platform.models.get(row.artifact)
        except ApiError:
            # A body that is malformed or too long is reported first, as when the framework
            # decoded it before the handler ran.
            check_batch_size(batch_rows(body, where))
            raise
        if len(body) <= INLINE_BATCH_BYTES:
            answer, warnings = answer_batch(model, body, strict, explain, where)
        else:
            answer, warnings = await asyncio.to_thread(
                answer_batch, model, body, strict, explain, where
            )
        headers = {}
        if warnings:
            # ASCII-escaped: header values are latin-1 on the wire.
            headers["X-Warnings"] = json.dumps(warnings[:MAX_HEADER_WARNINGS])
        # Already-encoded JSON (one pass for 100k rows); the annotation documents its shape.
        return Response(cast(Any, answer), media_type="application/json", headers=headers)

    @post(
        "/predict/{deployment_id:str}",
        status_code=200,
        summary="Predict one row through a deployment",
    )
    async def predict(
        self,
        request: Req,
        deployment_id: FromPath[str],
        data: JSONBody[dict[str, Any]],
        strict: FromQuery[bool] = False,
        explain: Explain = False,
    ) -> InferOut | ExplainedInferOut:
        """The deployment's version answers, exactly as `/infer` would (`?strict=true` and
        `?explain=true` included)."""
        platform = hot_platform(request)
        row = await serving_deployment(platform, request.user.account_id, deployment_id)
        return await answer_one(platform, row, data, strict, explain, deployment_id)
