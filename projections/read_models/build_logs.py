"""Build logs as the API reads them: a page of an account's lines, oldest first."""

from __future__ import annotations

from datetime import datetime

import msgspec

from projections.read_models import Queryable, decode_all, fetch_page

_BUILD_LOG_FILTER = """
FROM build_logs
WHERE account_id = $1 AND ($2::text IS NULL OR job_id = $2)
  AND ($3::text IS NULL OR model_name = $3)
"""
COUNT_BUILD_LOGS = "SELECT count(*) " + _BUILD_LOG_FILTER
BUILD_LOGS = (
    "SELECT job_id, model_name, version, logged_at, level, message "
    + _BUILD_LOG_FILTER
    + ' ORDER BY logged_at, partition, "offset", line LIMIT $4 OFFSET $5'
)


class BuildLogRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One line a build wrote."""

    job_id: str
    model_name: str
    version: int
    logged_at: datetime
    level: str
    message: str


async def build_logs_page(
    db: Queryable,
    account_id: str,
    job_id: str | None,
    model_name: str | None,
    limit: int,
    offset: int,
) -> tuple[list[BuildLogRecord], int]:
    """A page of the account's build log lines (of one job or model name if given, None:
    all), oldest first; and how many lines match."""
    rows, total = await fetch_page(
        db, COUNT_BUILD_LOGS, BUILD_LOGS, (account_id, job_id, model_name), limit, offset
    )
    return decode_all(rows, BuildLogRecord), total
