"""A model name's audit timeline as the API reads it, from the events archive.

The SQL is the archive's (`projections.archive_queries`, whose readers the CLI's
`intentml audit` and export are too); this turns a page of it into timeline entries.
"""

from __future__ import annotations

from intentml.domain.audit import AuditEntry, archived_entry
from projections import archive_queries as aq
from projections.read_models import Queryable, fetch_page


async def stream_events_page(
    db: Queryable, account_id: str, model_name: str, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """A page of the events of the account's stream of that model name (every model of
    the name, deleted ones too), in log order; and how many it has."""
    rows, total = await fetch_page(
        db, aq.COUNT_STREAM_EVENTS, aq.STREAM_EVENTS, (account_id, model_name), limit, offset
    )
    return [archived_entry(r) for r in rows], total
