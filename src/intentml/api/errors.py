"""The one error format: `{"error": {"code", "message", "status", "details"?}}`.

Every failure, ours or the framework's, leaves through these handlers, so a
client never sees another shape. A 500 is always a bug and is logged as one.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec

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


def internal_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything unexpected: log it with the traceback, answer 500 without internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _response(
        500, "internal error; this is a bug, please report it with the time of the request"
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_handler,
    RecursionError: recursion_handler,
    Exception: internal_handler,
}
