"""The one error format: `{"error": {"code", "message", "status", "details"?}}`.

Every failure, ours or the framework's, leaves through these handlers, so a
client never sees another shape. A 500 is always a bug and is logged as one.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec

from intentml.events.log import LogUnavailable
from intentml.infra.db import DB_UNAVAILABLE

log = logging.getLogger(__name__)

CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limit_exceeded",
    500: "internal_error",
    503: "service_unavailable",
}


class ErrorFields(msgspec.Struct, frozen=True):
    """The inside of every error response."""

    code: str
    message: str
    status: int
    details: Any = None


class ErrorBody(msgspec.Struct, frozen=True):
    """`{"error": {...}}`: the one shape of every error."""

    error: ErrorFields


#: What each error status means, as the OpenAPI document says it.
_DESCRIPTIONS = {
    400: "invalid_request: malformed JSON, a body or parameter of the wrong shape",
    401: "unauthorized: missing, invalid or revoked API key",
    403: "forbidden: the key's scope does not allow this request",
    404: "not_found: no such model, version, deployment, upload or key in this account",
    409: "conflict: the resource is in the wrong state, or a racing command won",
    413: "payload_too_large: over a documented limit",
    422: "validation_error: the input does not fit (every bad field in details)",
    429: "rate_limit_exceeded: slow down (see Retry-After)",
    500: "internal_error: a bug; report it with the time of the request",
    503: "service_unavailable: a dependency is down; retry",
}


def document_errors(handler: HTTPRouteHandler, public: bool = False) -> None:
    """Declare the error responses of `handler` in the OpenAPI document."""
    statuses = [400, 500, 503] if public else [400, 401, 403, 404, 429, 500, 503]
    if not public and handler.http_methods & {"POST", "PATCH", "DELETE"}:
        statuses += [409, 413, 422]
    declared = dict(handler.responses or {})
    for status in statuses:
        declared.setdefault(
            status, ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS[status])
        )
    handler.responses = declared


class ApiError(Exception):
    """An error the client can act on; rendered in the documented format."""

    def __init__(
        self,
        status: int,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_body(status: int, message: str, details: Any = None) -> dict[str, Any]:
    """The JSON body of an error response."""
    err: dict[str, Any] = {"code": CODES.get(status, "error"), "message": message, "status": status}
    if details is not None:
        err["details"] = details
    return {"error": err}


def _response(
    status: int, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(error_body(status, message, details), status_code=status, headers=headers)


def api_error_handler(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    """Render an ApiError."""
    return _response(exc.status, exc.message, exc.details, exc.headers)


def validation_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Malformed JSON or a body of the wrong shape: 400 with what was wrong."""
    details = exc.extra if isinstance(exc.extra, list) and exc.extra else None
    msg = exc.detail or "the request is not valid"
    if "JSON is malformed" in msg or "decode" in msg.lower():
        msg = "the request body is not valid JSON"
    return _response(
        400, f"{msg}; see the API docs at /schema for what this endpoint expects", details
    )


def http_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Framework errors (404 route, 405 method, 413 size, ...) in our format."""
    status = exc.status_code
    messages = {
        404: "no such resource; check the path against /schema",
        405: "this method is not allowed on this path",
        413: "the request body is too large; see the documented limits in the README",
        401: (
            "missing, invalid or revoked API key: send 'Authorization: Bearer <key>' or "
            "'x-api-key: <key>'"
        ),
    }
    message = messages.get(status, exc.detail)
    headers = dict(exc.headers) if exc.headers else None
    return _response(status, message, None, headers)


def recursion_handler(_: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """JSON nested deeper than the decoder recurses: the client's input, not our bug."""
    return _response(400, "the request body is nested too deeply; no endpoint takes such JSON")


def database_unavailable_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """PostgreSQL unreachable, or slower than the API's bound (`INTENTML_DB_TIMEOUT_S`): 503
    at once instead of a hang; nothing was appended (a command's event is appended after
    its checks, and an append that fails is not acknowledged)."""
    log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    return _response(
        503,
        "the database is not answering; retry in a moment (served models keep answering)",
        {"dependency": "database"},
        {"Retry-After": str(DB_RETRY_AFTER_S)},
    )


def log_unavailable_handler(_: Request[Any, Any, Any], exc: LogUnavailable) -> Response[Any]:
    """The broker cannot take the command's event: nothing was appended, retry later."""
    log.warning("event log unavailable: %s", exc)
    retry = max(1, math.ceil(exc.retry_after_s))
    return _response(
        503,
        f"the event log is not taking writes right now; nothing was recorded, retry after "
        f"{retry} s",
        {"dependency": "event_log", "retry_after_s": retry},
        {"Retry-After": str(retry)},
    )


def internal_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything unexpected: log it with the traceback, answer 500 without internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _response(
        500, "internal error; this is a bug, please report it with the time of the request"
    )


#: What a client is told to wait after a 503 for the database (`Retry-After`).
DB_RETRY_AFTER_S = 1

EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error_handler,
    LogUnavailable: log_unavailable_handler,
    **dict.fromkeys(DB_UNAVAILABLE, database_unavailable_handler),
    ValidationException: validation_handler,
    HTTPException: http_handler,
    RecursionError: recursion_handler,
    Exception: internal_handler,
}
