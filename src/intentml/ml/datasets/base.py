"""The vocabulary every dataset format shares: the user-facing column types, the
error, the inspection summary, and the `DatasetFormat` Protocol each format implements.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec
import pyarrow as pa

from intentml.domain.profiles import ColumnProfile

if TYPE_CHECKING:
    from intentml.ml.datasets.column_types import ColumnTypes

#: The user-facing column types, in the order a reader would expect them.
COLUMN_TYPES = ("integer", "number", "boolean", "string", "date", "datetime")

FORMATS = ("csv", "parquet", "jsonl")

#: Enough of the file to sniff the format and the CSV delimiter.
SNIFF_BYTES = 64 * 1024

#: CSV blocks and JSON Lines chunks parsed at a time by `inspect_dataset`. pyarrow's
#: streaming CSV reader reads about 32 blocks ahead, so its memory is some 40 times
#: this, whatever the size of the file. Read at call time (tests make it small).
INSPECT_BLOCK_BYTES = 128 * 1024


class ColumnInfo(msgspec.Struct, frozen=True):
    """A column of a dataset and its user-facing type (one of `COLUMN_TYPES`)."""

    name: str
    type: str


class DatasetSummary(msgspec.Struct, frozen=True):
    """What `inspect_dataset` finds: the row count, the typed columns and their profiles
    (in the order of `columns`; None for a column that could not be profiled)."""

    rows: int
    columns: list[ColumnInfo]
    profiles: list[ColumnProfile | None] = []


class DatasetError(ValueError):
    """The file cannot be used as a dataset; the message says why (and where)."""


class DatasetFormat(Protocol):
    """One file format, read whole or streamed for inspection.

    Both ways sniff the file the same way (each format's own options) and leave the
    shared checks (names, rows) and the typing to `intentml.ml.datasets.pipeline`, so
    the full read and the streaming inspection cannot drift apart.
    """

    #: How messages name the format ("CSV", "Parquet", "JSON Lines").
    label: str

    def read(self, path: Path, size: int, max_rows: int | None) -> pa.Table:
        """The file (with `max_rows`, at least its first `max_rows` rows) as one table.

        Raises `DatasetError` for parser failures; the caller checks names and rows.
        """
        ...

    def scan(self, path: Path, size: int) -> ColumnTypes:
        """Stream the file batch by batch: the data rows and the merged column types.

        Raises the `DatasetError`s `read` would; the caller refuses zero rows.
        """
        ...
