"""The API's reads: one module per resource, each owning its SQL and its row Structs.

A read function takes what it runs its SQL on (`Queryable`: an asyncpg pool, or one
of its connections) and returns frozen msgspec Structs, each row decoded once, so the
API's controllers neither hold SQL nor index records by column name. The projector's
and the workers' SQL stays in `projections.queries`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

import asyncpg
import msgspec

RecordT = TypeVar("RecordT", bound=msgspec.Struct)


class Queryable(Protocol):
    """What a read model runs its SQL on: an asyncpg pool or connection satisfy it."""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Every row of the query."""
        ...

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """The query's first row, or None."""
        ...

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first column of the query's first row."""
        ...


def decode(row: asyncpg.Record, into: type[RecordT]) -> RecordT:
    """One row as its Struct (columns the Struct does not name are ignored)."""
    return msgspec.convert(dict(row), into)


def decode_optional(row: asyncpg.Record | None, into: type[RecordT]) -> RecordT | None:
    """A row as its Struct, None for no row."""
    return None if row is None else decode(row, into)


def decode_all(rows: Iterable[asyncpg.Record], into: type[RecordT]) -> list[RecordT]:
    """Rows as their Structs, in order."""
    return [decode(row, into) for row in rows]


async def fetch_page(
    db: Queryable,
    count_query: str,
    page_query: str,
    filters: tuple[Any, ...],
    limit: int,
    offset: int,
) -> tuple[list[asyncpg.Record], int]:
    """One page of rows and the total the filters match. Both queries take `filters` as
    their first parameters; the page query then takes limit and offset."""
    total = int(await db.fetchval(count_query, *filters))
    rows = await db.fetch(page_query, *filters, limit, offset)
    return rows, total
