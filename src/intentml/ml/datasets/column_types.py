"""Typing columns, once for both ways of reading: `column_type` of a pandas column,
`merge_column_types` of two parts of one column, and `ColumnTypes`, which merges the
types of a file's batches as the streaming inspection meets them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from intentml.domain.profiles import ColumnProfile
from intentml.ml.datasets.base import ColumnInfo
from intentml.ml.datasets.profiling import ColumnProfiler, keys_cap
from intentml.ml.datasets.tables import to_pandas

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


def column_type(series: pd.Series[Any]) -> str:
    """The user-facing type of one column (one of `COLUMN_TYPES`).

    Strings that are all ISO 8601 dates (or date-times) count as "date"
    ("datetime"); a datetime column whose values are all at midnight counts as
    "date", because that is how pyarrow reads a date-only column.
    """
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        return _datetime_kind(series)
    values = series.dropna()
    if len(values) == 0:
        return "string"
    if isinstance(dtype, pd.StringDtype):
        return string_kind(values)
    return _object_kind(values)


def column_infos(df: pd.DataFrame) -> list[ColumnInfo]:
    """The name and user-facing type of every column, in file order."""
    return [ColumnInfo(name=str(name), type=column_type(df[name])) for name in df.columns]


def profile_frame(df: pd.DataFrame) -> list[ColumnProfile | None]:
    """The profile of every column of a whole DataFrame, in column order (what the
    streaming inspection finds in batches)."""
    profiles: list[ColumnProfile | None] = []
    for name in df.columns:
        series = df[name]
        kind = column_type(series)
        profiler = ColumnProfiler(keys_cap(len(df.columns)))
        add_series(profiler, series, kind)
        profiles.append(profiler.finish(kind))
    return profiles


def parse_iso_datetimes(series: pd.Series[Any]) -> pd.Series[Any]:
    """Parse a date/datetime column (strings or datetime64) to naive UTC datetime64.

    Time-zone-aware values are converted to UTC and the zone dropped; naive values are
    taken as UTC. Unparseable values become NaT. Serving applies the same rule.
    """
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        converted: pd.Series[Any] = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return converted
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series
    parsed: pd.Series[Any] = pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce")
    naive: pd.Series[Any] = parsed.dt.tz_localize(None)
    return naive


def _datetime_kind(series: pd.Series[Any]) -> str:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return "datetime"
    values = series.dropna()
    if len(values) == 0:
        return "date"
    normalized = values.dt.normalize()
    return "date" if bool((values == normalized).all()) else "datetime"


def string_kind(values: pd.Series[Any]) -> str:
    """ "date", "datetime" or "string": whether all these texts are ISO 8601 dates (date-times)."""
    uniques = pd.Series(values.unique())
    # Cheap rejection before the regex: ISO dates start with a digit and are short.
    lengths = uniques.str.len()
    if not bool(((lengths >= 10) & (lengths <= 35)).all()):
        return "string"
    if bool(uniques.str.fullmatch(_ISO_DATE.pattern).all()):
        parsed = pd.to_datetime(uniques, format="%Y-%m-%d", errors="coerce")
        return "date" if not bool(parsed.isna().any()) else "string"
    if bool(uniques.str.fullmatch(_ISO_DATETIME.pattern).all()):
        parsed = pd.to_datetime(uniques, format="ISO8601", utc=True, errors="coerce")
        return "datetime" if not bool(parsed.isna().any()) else "string"
    return "string"


def _object_kind(values: pd.Series[Any]) -> str:
    checks: list[tuple[str, Callable[[Any], bool]]] = [
        ("boolean", lambda v: isinstance(v, bool | np.bool_)),
        ("integer", lambda v: isinstance(v, int | np.integer) and not isinstance(v, bool)),
        ("number", lambda v: isinstance(v, int | float | np.number) and not isinstance(v, bool)),
        ("datetime", lambda v: isinstance(v, dt.datetime)),
        ("date", lambda v: isinstance(v, dt.date)),
    ]
    for kind, check in checks:
        if all(check(v) for v in values):
            return kind
    if all(isinstance(v, str) for v in values):
        return string_kind(values.astype(str))
    return "string"


def merge_column_types(first: str, second: str) -> str:
    """The type of a column whose values are of type `first` in one part, `second` in another.

    Both are `COLUMN_TYPES`. The result is the type the whole column would get if it
    were typed at once: integers mixed with decimals are numbers, dates mixed with
    date-times are date-times, and any other mix is a string.
    """
    if first == second:
        return first
    pair = {first, second}
    if pair == {"integer", "number"}:
        return "number"
    if pair == {"date", "datetime"}:
        return "datetime"
    return "string"


class ColumnTypes:
    """Column types combined over batches; a batch where a column is all missing is ignored.

    Also counts the data rows of the batches (`rows`), which their scan adds, and
    profiles each column (`profiler`, `profiles`).
    """

    def __init__(self) -> None:
        self.rows = 0
        self.names: list[str] = []
        self.merged: dict[str, str] = {}
        # The type of a column that is missing everywhere: what typing it whole gives.
        self.fallback: dict[str, str] = {}
        #: How many columns the file has, when its scan knows it up front (sizes the
        #: profiles' distinct counts, see `profiling.keys_cap`).
        self.expected_columns = 0
        #: Rows fed to the profilers so far (a JSON Lines column may start late).
        self.profiled_rows = 0
        self.profilers: dict[str, ColumnProfiler] = {}

    def profiler(self, name: str) -> ColumnProfiler:
        """Column `name`'s profiler; a column first met after some rows has them missing."""
        found = self.profilers.get(name)
        if found is None:
            found = ColumnProfiler(keys_cap(self.expected_columns or len(self.names)))
            found.rows = found.missing = self.profiled_rows
            self.profilers[name] = found
        return found

    def add(self, name: str, kind: str | None, fallback: str) -> None:
        """Merge `kind` (None: all missing in this batch) into column `name`'s type."""
        if name not in self.fallback:
            self.names.append(name)
            self.fallback[name] = fallback
        if kind is None:
            return
        seen = self.merged.get(name)
        self.merged[name] = kind if seen is None else merge_column_types(seen, kind)

    def add_frame_types(self, batch: pa.RecordBatch) -> None:
        """Type each column of a batch as `column_type` does, via its pandas conversion."""
        frame = to_pandas(pa.Table.from_batches([batch]))
        for name in frame.columns:
            series = frame[name]
            kind = column_type(series)
            known = None if bool(series.isna().all()) else kind
            self.add(str(name), known, kind)
            add_series(self.profiler(str(name)), series, known)
        self.profiled_rows += len(frame)

    def columns(self) -> list[ColumnInfo]:
        """Every column seen, in first-seen order, with its merged type."""
        return [ColumnInfo(n, self.merged.get(n, self.fallback[n])) for n in self.names]

    def profiles(self) -> list[ColumnProfile | None]:
        """Every column's profile as of its merged type, in the order of `columns`."""
        profiles: list[ColumnProfile | None] = []
        for info in self.columns():
            profiler = self.profiler(info.name)
            # Rows of batches the column was absent from (JSON Lines) are missing values.
            absent = self.profiled_rows - profiler.rows
            profiler.rows += absent
            profiler.missing += absent
            profiles.append(profiler.finish(info.type))
        return profiles


def add_series(profiler: ColumnProfiler, series: pd.Series[Any], kind: str | None) -> None:
    """A batch of a column as pandas holds it (typed `kind`; None if all missing).

    A typed batch feeds only its type's view: in a Parquet or JSON Lines file a typed
    column does not turn into text later (pyarrow refuses such a file whole), so its
    texts would never be read.
    """
    absent = series.isna().to_numpy(dtype=bool)
    present = series[~absent]
    rows, missing = len(series), int(absent.sum())
    if kind in ("integer", "number"):
        profiler.add(rows, missing, numbers=present.to_numpy(dtype=np.float64))
    elif kind in ("date", "datetime"):
        stamps = parse_iso_datetimes(present).to_numpy(dtype="datetime64[ns]")
        profiler.add(rows, missing, instants=stamps.view(np.int64))
    elif kind == "boolean":
        profiler.add(rows, missing, flags=present.to_numpy(dtype=bool))
    else:
        profiler.add(rows, missing, texts=_texts(present))


def _texts(present: pd.Series[Any]) -> pa.Array:
    try:
        return pa.array(present.to_numpy(dtype=object), type=pa.string())
    except (pa.ArrowException, TypeError):
        return pa.array([str(v) for v in present], type=pa.string())
