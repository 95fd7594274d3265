"""Refuse text PostgreSQL cannot store, for every route, before any handler runs.

One check for every JSON body, path and query parameter (an app-level
`before_request` hook, run before the body is decoded into its Struct), so no
controller can forget it: a NUL (`\\u0000`) or a lone surrogate anywhere is a 400
`invalid_request` naming the field, and nothing is appended. Uploads are checked
where their file name and columns become known (`check_upload`), and
`Platform.submit` checks every event once more with the fold's own rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Request

from intentml.api.errors import ApiError
from intentml.domain.text import UNSTORABLE_REASON, unstorable_field

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def refuse(field: str) -> ApiError:
    """The 400 for text in `field` that cannot be stored."""
    return ApiError(
        400,
        f"'{field}' {UNSTORABLE_REASON}; remove such characters and send it again",
        {"field": field},
    )


def _body_field(body: bytes) -> str | None:
    # JSON can only carry NUL or a surrogate as a \u escape: most bodies need no walk.
    if b"\\u" not in body:
        return None
    try:
        tree = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None  # malformed JSON: the handler's own decoding answers 400
    return unstorable_field(tree)


async def refuse_unstorable_text(request: Request[Any, Any, Any]) -> None:
    """The `before_request` hook: 400 for unstorable text in the path, query or body."""
    for name, value in request.path_params.items():
        if unstorable_field(value) is not None:
            raise refuse(name)
    for name, values in request.query_params.dict().items():
        if unstorable_field(name) is not None or unstorable_field(values) is not None:
            raise refuse(name)
    if request.method not in _BODY_METHODS:
        return
    ctype = request.headers.get("content-type", "")
    if (
        ctype.startswith("multipart/")
        or request.route_handler.resolve_request_max_body_size() is None
    ):
        return  # streamed by its handler, never held whole (uploads): see `check_upload`
    field = _body_field(await request.body())
    if field is not None:
        raise refuse(field)


def check_upload(
    filename: str, columns: Sequence[str] = (), fields: Sequence[tuple[str, str]] = ()
) -> None:
    """400 when an upload's file name, a column name (its header) or another form field
    (name or value; unused today, but never to be stored by accident) cannot be stored."""
    if unstorable_field(filename) is not None:
        raise refuse("filename")
    for i, name in enumerate(columns):
        if unstorable_field(name) is not None:
            raise refuse(f"columns[{i}]")
    for name, value in fields:
        if unstorable_field(name) is not None or unstorable_field(value) is not None:
            raise refuse(name)
