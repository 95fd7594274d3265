"""The one error format: `{"error": {"code", "message", "status", "details"?}}`.

Every failure, ours or the framework's, leaves through these handlers, so a
client never sees another shape. A 500 is always a bug and is logged as one.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

log = logging.getLogger(__name__)

CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limit_exceeded",
    500: "internal_error",
    503: "service_unavailable",
}


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
    return _response(400, f"{msg}; see the API docs at /schema for the expected body", details)


def http_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Framework errors (404 route, 405 method, 413 size, ...) in our format."""
    status = exc.status_code
    messages = {
        404: "no such resource; check the path against /schema",
        405: "this method is not allowed on this path",
        413: "the request body is too large; see the documented limits in the README",
        401: "missing or invalid API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
    }
    message = messages.get(status, exc.detail)
    headers = dict(exc.headers) if exc.headers else None
    return _response(status, message, None, headers)


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
    Exception: internal_handler,
}
