"""Paginated listings: the `limit`/`offset` checks and the count-plus-page query."""

from __future__ import annotations

from typing import Any

import asyncpg

from intentml.api.errors import ApiError
from intentml.api.platform import Platform
from intentml.api.schemas import Pagination

#: PostgreSQL's bigint: a larger offset cannot reach the database.
MAX_OFFSET = 2**63 - 1


def page_params(limit: int, offset: int, max_limit: int) -> None:
    """400 unless `limit` is within 1..max_limit and `offset` within 0..MAX_OFFSET."""
    if not 1 <= limit <= max_limit:
        raise ApiError(400, f"'limit' must be between 1 and {max_limit}", {"limit": limit})
    if not 0 <= offset <= MAX_OFFSET:
        raise ApiError(400, f"'offset' must be between 0 and {MAX_OFFSET}", {"offset": offset})


async def fetch_page(
    platform: Platform,
    count_query: str,
    page_query: str,
    filters: tuple[Any, ...],
    limit: int,
    offset: int,
) -> tuple[list[asyncpg.Record], Pagination]:
    """One page of rows and its pagination. Both queries take `filters` as their first
    parameters; the page query then takes limit and offset."""
    async with platform.pool.acquire() as conn:
        total = await conn.fetchval(count_query, *filters)
        rows = await conn.fetch(page_query, *filters, limit, offset)
    return rows, Pagination(total, limit, offset, offset + len(rows) < total)
