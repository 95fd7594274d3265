"""Paginated listings: the `limit`/`offset` checks and the pagination of a page."""

from __future__ import annotations

from intentml.api.errors import ApiError
from intentml.api.schemas import Pagination

#: PostgreSQL's bigint: a larger offset cannot reach the database.
MAX_OFFSET = 2**63 - 1


def page_params(limit: int, offset: int, max_limit: int) -> None:
    """400 unless `limit` is within 1..max_limit and `offset` within 0..MAX_OFFSET."""
    if not 1 <= limit <= max_limit:
        raise ApiError(400, f"'limit' must be between 1 and {max_limit}", {"limit": limit})
    if not 0 <= offset <= MAX_OFFSET:
        raise ApiError(400, f"'offset' must be between 0 and {MAX_OFFSET}", {"offset": offset})


def pagination(total: int, limit: int, offset: int, shown: int) -> Pagination:
    """The pagination of a page of `shown` items at `offset` out of `total`."""
    return Pagination(total, limit, offset, offset + shown < total)
