"""What an upload's inspection learns about each column: the evidence target resolution
and feature planning weigh (an identifier is never a target; a row index is dropped).

Kept small on purpose: it travels in `DatasetUploaded` and is shown by `GET /uploads/{id}`.
"""

from __future__ import annotations

import msgspec

#: At most this many most-frequent values are kept, and only for a column with at most
#: `TOP_VALUES_MAX_DISTINCT` distinct values; each is cut to `TOP_VALUE_MAX_CHARS`.
TOP_VALUES = 5
TOP_VALUES_MAX_DISTINCT = 20
TOP_VALUE_MAX_CHARS = 40


class ColumnProfile(msgspec.Struct, frozen=True, kw_only=True):
    """One column's profile over all its rows."""

    #: Distinct non-missing values.
    distinct: int
    #: False when the count stopped at its cap (a memory bound of the inspection, see
    #: `intentml.ml.datasets.profiling`): `distinct` is then a lower bound.
    distinct_exact: bool = True
    #: Rows with no value.
    missing: int
    #: Every row has a value, and no two rows the same one.
    unique: bool
    #: The values rise with the row order (strictly; numbers and dates only).
    rising: bool
    #: The smallest and largest value (numbers as numbers, dates and text as text);
    #: None when the column has no values.
    min: float | str | None = None
    max: float | str | None = None
    #: The most frequent values, most frequent first, as text (low-cardinality columns
    #: only, see `TOP_VALUES_MAX_DISTINCT`; empty otherwise).
    top: list[str] = []
