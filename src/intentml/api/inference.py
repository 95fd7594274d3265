"""Predictions: one row (`/infer`, `/predict/{deployment_id}`) or a batch (`/predictions`).

The hot path: the version or deployment a path names is resolved from a cache
that the projector's checkpoints invalidate, the model is cached per artifact,
and every row is validated against the version's input schema before LightGBM
sees it. Large batches run off the event loop so single rows are not starved.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, cast

import asyncpg
import msgspec
from litestar import Controller, Response, post
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import Body, FromPath, FromQuery, JSONBody

from intentml.api.errors import ApiError
from intentml.api.lookups import Req, find_version
from intentml.api.platform import Platform
from intentml.api.schemas import InferOut, PredictionOut
from intentml.domain.fold import ACTIVE, DEPLOYING, READY
from intentml.domain.names import version_label
from intentml.events.envelope import new_id, utcnow
from intentml.ml.serving import InputError, LoadedModel
from projections import queries as q

#: The most rows one `/predictions` request may carry (more → 413).
MAX_BATCH_ROWS = 100_000
#: Batches up to this many rows are predicted on the event loop (cheaper than a thread hop).
INLINE_BATCH_ROWS = 256
#: How many warnings a batch response lists in its `X-Warnings` header.
MAX_HEADER_WARNINGS = 20

_encoder = msgspec.json.Encoder()

#: The body of `/predictions`, decoded as an array of anything: a row that is not an object
#: is then a 422 naming it (`[3]`) like every other bad row, instead of a 400 that doesn't
#: say which element. The OpenAPI schema still documents an array of objects.
BatchBody = Annotated[
    list[Any],
    Body(
        media_type=RequestEncodingType.JSON,
        description=f"An array of up to {MAX_BATCH_ROWS:,} input objects",
        schema_extra={"items": Schema(type=OpenAPIType.OBJECT, additional_properties=True)},
    ),
]


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
) -> asyncpg.Record:
    """The READY version a prediction path names (cached between read-model changes)."""

    async def load() -> asyncpg.Record:
        return await find_version(platform, account_id, model_name, model_version)

    key = ("version", account_id, model_name, model_version)
    row: asyncpg.Record | None = await platform.lookups.get(key, load)
    assert row is not None  # find_version raises instead of returning None
    if row["status"] != READY:
        raise ApiError(
            409,
            f"{model_name} {version_label(row['version'])} is {row['status']}, not READY; "
            f"poll GET /models/{model_name}/{version_label(row['version'])}/status",
        )
    return row


async def serving_deployment(platform: Platform, account_id: str, deployment_id: str) -> Any:
    """The ACTIVE deployment `deployment_id` names, with its version (cached likewise)."""

    async def load() -> asyncpg.Record | None:
        return await platform.fetchrow(q.SERVING_DEPLOYMENT, account_id, deployment_id)

    row = await platform.lookups.get(("deployment", account_id, deployment_id), load)
    if row is None or row["deployment_status"] not in (ACTIVE, DEPLOYING):
        raise ApiError(
            404,
            f"no active deployment '{deployment_id}'; it was undeployed, its model deleted, "
            "or it never existed (GET /models/{model_name}/deployments lists them)",
        )
    if row["deployment_status"] == DEPLOYING:
        raise ApiError(409, f"deployment '{deployment_id}' is still DEPLOYING; retry shortly")
    return row


def hot_platform(request: Req) -> Platform:
    """The platform, read straight from the app state.

    The prediction handlers skip dependency injection: resolving it (a State
    object, the provider call) was about 15 % of a single-row request's CPU.
    """
    platform: Platform = request.app.state.platform
    return platform


def predict_one(model: LoadedModel, row: Mapping[str, Any], strict: bool) -> tuple[Any, list[str]]:
    """Validate and predict one row; 422 with every bad field."""
    errors, warnings = model.validate(row, strict=strict)
    if errors:
        raise validation_error(errors)
    return model.predict_one(row), warnings


def predict_batch(model: LoadedModel, rows: Sequence[Any], strict: bool) -> tuple[bytes, list[str]]:
    """Validate and predict a batch; the JSON answer, in row order, and the warnings."""
    errors, warnings, predictions = model.validate_and_predict_rows(rows, strict=strict)
    if errors or predictions is None:
        raise validation_error(errors, len(rows))
    return _encoder.encode([{"prediction": p} for p in predictions]), warnings


async def answer_one(
    platform: Platform,
    row: Any,
    data: Mapping[str, Any],
    strict: bool,
    deployment_id: str | None = None,
) -> InferOut:
    """The `/infer` answer of the version `row` for one input row."""
    model = await platform.models.get(row["artifact"])
    result, warnings = predict_one(model, data, strict)
    return InferOut(
        request_id="req_" + new_id(),
        result=result,
        model_name=row["model_name"],
        model_version=version_label(row["version"]),
        created_at=utcnow(),
        warnings=warnings,
        deployment_id=deployment_id,
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
    ) -> InferOut:
        """One input object in, the prediction out. Unknown fields → 422; columns the model
        ignores and category values never seen in training are warnings (422 with
        `?strict=true`)."""
        platform = hot_platform(request)
        row = await serving_version(platform, request.user.account_id, model_name, model_version)
        return await answer_one(platform, row, data, strict)

    @post(
        "/models/{model_name:str}/{model_version:str}/predictions",
        status_code=200,
        summary=f"Predict a batch of up to {MAX_BATCH_ROWS:,} rows",
    )
    async def predictions(
        self,
        request: Req,
        model_name: FromPath[str],
        model_version: FromPath[str],
        data: BatchBody,
        strict: FromQuery[bool] = False,
    ) -> Response[list[PredictionOut]]:
        """A JSON array of input objects in; `[{"prediction": {...}}, ...]` out, in the same
        order. Errors name the row: `[3].usage_minutes`. Warnings come in the `X-Warnings`
        header (a JSON array)."""
        if len(data) > MAX_BATCH_ROWS:
            raise ApiError(
                413,
                f"{len(data):,} rows is more than the {MAX_BATCH_ROWS:,} a request may carry; "
                "split the batch",
                {"rows": len(data), "max_rows": MAX_BATCH_ROWS},
            )
        platform = hot_platform(request)
        row = await serving_version(platform, request.user.account_id, model_name, model_version)
        model = await platform.models.get(row["artifact"])
        if len(data) <= INLINE_BATCH_ROWS:
            body, warnings = predict_batch(model, data, strict)
        else:
            body, warnings = await asyncio.to_thread(predict_batch, model, data, strict)
        headers = {}
        if warnings:
            # ASCII-escaped: header values are latin-1 on the wire.
            headers["X-Warnings"] = json.dumps(warnings[:MAX_HEADER_WARNINGS])
        # Already-encoded JSON (one pass for 100k rows); the annotation documents its shape.
        return Response(cast(Any, body), media_type="application/json", headers=headers)

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
    ) -> InferOut:
        """The deployment's version answers, exactly as `/infer` would."""
        platform = hot_platform(request)
        row = await serving_deployment(platform, request.user.account_id, deployment_id)
        return await answer_one(platform, row, data, strict, deployment_id)
