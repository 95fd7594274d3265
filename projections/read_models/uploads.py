"""Uploads as the API reads them: one of the account's datasets."""

from __future__ import annotations

from datetime import datetime

import msgspec

from intentml.events.types import Column
from projections.read_models import Queryable, decode_optional

UPLOAD = "SELECT * FROM uploads WHERE account_id = $1 AND upload_id = $2"


class UploadRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An upload's row: the stored dataset's format, size and columns."""

    upload_id: str
    account_id: str
    filename: str
    format: str
    rows: int
    columns: list[Column]
    size_bytes: int
    sha256: str
    created_by: str
    created_at: datetime


async def account_upload(db: Queryable, account_id: str, upload_id: str) -> UploadRecord | None:
    """The account's upload `upload_id`, or None."""
    return decode_optional(await db.fetchrow(UPLOAD, account_id, upload_id), UploadRecord)
