"""Finding what a path names (model, version, deployment) and answering commands.

Every controller resolves its path through these functions, so a wrong name,
an unknown version or a rejected command is answered the same way everywhere.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.datastructures import State

from intentml.api.auth import Principal
from intentml.api.errors import ApiError
from intentml.api.platform import Outcome, Platform
from intentml.domain.names import parse_version, valid_model_name, version_label
from projections.read_models.models import ModelRecord, model_by_name
from projections.read_models.versions import (
    VersionRecord,
    latest_version,
    version_by_id,
    version_by_number,
)

#: The request type of every authenticated handler.
Req = Request[Principal, Any, State]

#: Model names that are paths of the API themselves.
RESERVED_NAMES = frozenset({"build-logs"})


def check_name(model_name: str) -> None:
    """400 unless the name matches the documented pattern."""
    if not valid_model_name(model_name):
        raise ApiError(
            400,
            "model names are 1-100 characters of letters, digits, '-', '_' and '.',"
            " not starting with '.'",
            {"model_name": model_name},
        )


def reserved_name(model_name: str) -> ApiError:
    """The 400 of creating a model whose name is a path of the API."""
    return ApiError(
        400,
        f"'{model_name}' is a path of the API; pick another model name",
        {"model_name": model_name},
    )


def model_not_found(model_name: str) -> ApiError:
    """The 404 of a model name with no live model."""
    return ApiError(404, f"model '{model_name}' not found; list your models with GET /models")


async def find_model(platform: Platform, account_id: str, model_name: str) -> ModelRecord:
    """The live model a path names, or 404."""
    check_name(model_name)
    model = await model_by_name(platform.pool, account_id, model_name)
    if model is None:
        raise model_not_found(model_name)
    return model


async def find_version(
    platform: Platform, account_id: str, model_name: str, model_version: str
) -> VersionRecord:
    """The version a path names (`v3`, `v3.0`, `3`, `latest` or a version_id), or 404."""
    check_name(model_name)
    ref = model_version.strip()
    number = parse_version(ref)
    if number is not None:
        version = await version_by_number(platform.pool, account_id, model_name, number)
    elif ref.lower() == "latest":
        version = await latest_version(platform.pool, account_id, model_name)
    else:
        version = await version_by_id(platform.pool, account_id, model_name, ref)
    if version is None:
        if await model_by_name(platform.pool, account_id, model_name) is None:
            raise model_not_found(model_name)
        shown = version_label(number) if number is not None else f"'{ref}'"
        raise ApiError(
            404,
            f"model '{model_name}' has no version {shown}; versions are named v1, 1, "
            f"latest or by version_id (GET /models/{model_name}/versions lists them)",
        )
    return version


def base_url(request: Req) -> str:
    """The URL clients reached this API at, for the endpoints we hand out."""
    return str(request.base_url).rstrip("/")


def check_verdict(outcome: Outcome, hint: str) -> None:
    """409 when the log's fold rejected the command (a racing command won)."""
    if outcome.applied and not outcome.accepted:
        raise ApiError(409, f"{outcome.reason}; {hint}")


def command_response(
    body: Any, outcome: Outcome, location: str, done_status: int = 202
) -> Response[Any]:
    """`done_status` once the command took effect; 202 with `Location` while still in flight."""
    status = done_status if outcome.applied else 202
    return Response(body, status_code=status, headers={"Location": location})
