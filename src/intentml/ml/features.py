"""From a DataFrame to LightGBM's float matrix: which columns become inputs, and how.

Every input is encoded as float64 exactly the way serving encodes a request
(`intentml.ml.serving`), so a model sees the same numbers in training and in use.
Columns that cannot help are dropped with a reason the user can read.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pandas as pd

from intentml.domain.profiles import ColumnProfile
from intentml.ml.datasets import column_type, parse_iso_datetimes
from intentml.ml.serving import FeatureSpec, matrix_layout
from intentml.ml.target import name_tokens
from intentml.ml.text import short

FloatMatrix = npt.NDArray[np.float64]

#: Columns missing in more than this share of rows are dropped.
MAX_MISSING_FRACTION = 0.95
#: Only the most frequent category values get a code; rarer ones count as missing.
MAX_CATEGORIES = 1000
_ID_TOKENS = frozenset(
    ["id", "ids", "uuid", "guid", "key", "index", "idx", "rowid", "row", "num", "no", "ref"]
)
#: Names that R, pandas and spreadsheets give a row number (letters and digits only,
#: lowercase): `rownames`, `Unnamed: 0`, `index`, `row_id`, `RowNumber`, ...
_ROW_INDEX_NAMES = frozenset(
    [
        "rownames",
        "rowname",
        "unnamed0",
        "unnamed",
        "index",
        "idx",
        "rowid",
        "rownumber",
        "rownum",
        "rowno",
        "row",
        "rowindex",
        "rowidx",
        "obs",
        "observation",
    ]
)


class ColumnStats(msgspec.Struct, frozen=True, kw_only=True):
    """What the drop rules read of a column: from its values at build time
    (`stats_of`), or from its upload profile for a plan (`stats_from_profile`)."""

    kind: str
    rows: int
    present: int
    distinct: int
    #: max - min + 1 of a numeric column (None otherwise): a dense id sequence fills it.
    span: float | None = None
    #: Whole numbers in every row, each above the one before (a row index).
    rising_whole: bool = False
    #: The value of a column with one value, as text.
    only_value: str | None = None


def stats_of(series: pd.Series[Any]) -> ColumnStats:
    """The drop rules' view of a column's values."""
    kind = column_type(series)
    present = series.dropna()
    numeric = kind in ("integer", "number") and len(present) > 0
    return ColumnStats(
        kind=kind,
        rows=len(series),
        present=len(present),
        distinct=int(present.nunique()),
        span=float(present.max()) - float(present.min()) + 1 if numeric else None,
        rising_whole=_rising_whole(series, kind),
        only_value=short(present.iloc[0]) if len(present) and present.nunique() == 1 else None,
    )


def stats_from_profile(kind: str, profile: ColumnProfile, rows: int) -> ColumnStats:
    """The drop rules' view of a column from its upload profile (no data read)."""
    numeric = kind in ("integer", "number") and isinstance(profile.min, float | int)
    span = None
    if numeric and isinstance(profile.max, float | int) and isinstance(profile.min, float | int):
        span = float(profile.max) - float(profile.min) + 1
    return ColumnStats(
        kind=kind,
        rows=rows,
        present=rows - profile.missing,
        distinct=profile.distinct,
        span=span,
        rising_whole=kind == "integer" and profile.rising,
        only_value=_only_value(kind, profile),
    )


def _only_value(kind: str, profile: ColumnProfile) -> str | None:
    if profile.distinct != 1 or not profile.top:
        return None
    # Written as `short` writes the value itself: text quoted, numbers bare.
    return short(profile.top[0]) if kind == "string" else profile.top[0]


def drop_reason(name: str, stats: ColumnStats) -> str | None:
    """Why column `name` cannot be an input, or None: no values, one value, an
    identifier or row index, or text with too many values to be a category."""
    if stats.rows == 0 or 1.0 - stats.present / stats.rows > MAX_MISSING_FRACTION:
        missing = 1.0 - stats.present / max(1, stats.rows)
        return "no values" if stats.present == 0 else f"{missing:.0%} of values are missing"
    if stats.distinct <= 1:
        return f"the same value ({stats.only_value}) in every row"
    unique_per_row = stats.distinct == stats.present and stats.present >= 0.9 * stats.rows
    if stats.kind == "string" and unique_per_row:
        return "identifier: a different value in every row"
    dense = stats.span is not None and stats.span <= 1.1 * stats.distinct
    if stats.kind == "integer" and unique_per_row and (_id_like_name(name) or dense):
        return "identifier: a different whole number in every row"
    if stats.rising_whole and stats.rows >= 2:
        named = " named as one," if _row_index_name(name) else ""
        return (
            f"identifier (a row index):{named} a different whole number in every row, rising "
            "with the row order (where a row sits in the file, not what it is)"
        )
    if stats.kind == "string" and stats.distinct > max(50, stats.present // 2):
        return (
            f"{stats.distinct:,} distinct values in {stats.present:,} rows: too many to use as "
            "a category (free text or an identifier?)"
        )
    return None


def plan_features(df: pd.DataFrame, target: str) -> tuple[list[FeatureSpec], dict[str, str]]:
    """The usable input columns (as FeatureSpecs) and the dropped ones with reasons."""
    inputs: list[FeatureSpec] = []
    dropped: dict[str, str] = {}
    for column in df.columns:
        name = str(column)
        if name == target:
            continue
        series = df[column]
        stats = stats_of(series)
        why = drop_reason(name, stats)
        if why is not None:
            dropped[name] = why
            continue
        feature_kind = "category" if stats.kind == "string" else stats.kind
        categories: list[str] = []
        if feature_kind == "category":
            counts = series.dropna().astype(str).value_counts()
            # Most frequent first so the cap keeps the values that carry signal; ties by
            # value so the codes do not depend on row order.
            ordered = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
            categories = [str(value) for value, _ in ordered[:MAX_CATEGORIES]]
        inputs.append(
            FeatureSpec(
                name=name,
                kind=feature_kind,
                categories=categories,
                required=stats.present == stats.rows,
            )
        )
    return inputs, dropped


def build_matrix(df: pd.DataFrame, inputs: list[FeatureSpec]) -> FloatMatrix:
    """The float64 feature matrix for `df`, laid out exactly as serving builds it."""
    columns, _ = matrix_layout(inputs)
    matrix = np.empty((len(df), len(columns)), dtype=np.float64)
    j = 0
    for spec in inputs:
        series = df[spec.name]
        if spec.kind in ("number", "integer", "boolean"):
            matrix[:, j] = as_float(series)
            j += 1
        elif spec.kind == "category":
            if series.dtype == object:
                # Categories are strings (as serving receives them), whatever was parsed.
                series = series.where(series.isna(), series.astype(str))
            codes = pd.Categorical(series, categories=spec.categories).codes
            matrix[:, j] = np.where(codes < 0, np.nan, codes.astype(np.float64))
            j += 1
        else:
            parts = _date_parts(series, with_time=spec.kind == "datetime")
            matrix[:, j : j + parts.shape[1]] = parts
            j += parts.shape[1]
    return matrix


def sample_input(df: pd.DataFrame, inputs: list[FeatureSpec]) -> dict[str, Any]:
    """A typical row: medians of numbers and dates, the most frequent other values."""
    sample: dict[str, Any] = {}
    for spec in inputs:
        series = df[spec.name]
        value: Any = None
        if spec.kind == "category":
            value = spec.categories[0]
        elif spec.kind in ("number", "integer"):
            median = float(np.nanmedian(as_float(series)))
            value = round(median) if spec.kind == "integer" else median
        elif spec.kind == "boolean":
            value = bool(np.nanmean(as_float(series)) >= 0.5)
        else:
            stamps = parse_iso_datetimes(series).dropna()
            middle = stamps.sort_values().iloc[len(stamps) // 2]
            if spec.kind == "date":
                value = middle.strftime("%Y-%m-%d")
            else:
                value = middle.strftime("%Y-%m-%dT%H:%M:%SZ")
        sample[spec.name] = value
    return sample


def as_float(series: pd.Series[Any]) -> npt.NDArray[np.float64]:
    """The column as float64, NaN where missing or not a number."""
    if series.dtype == object:
        series = pd.to_numeric(series, errors="coerce")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _date_parts(series: pd.Series[Any], with_time: bool) -> FloatMatrix:
    """year, month, day, dayofweek, epoch_days (and hour), as serving computes them."""
    stamps = parse_iso_datetimes(series).to_numpy(dtype="datetime64[s]")
    absent = np.isnat(stamps)
    stamps = np.where(absent, np.datetime64(0, "s"), stamps)
    seconds = stamps.astype(np.int64)
    days = np.floor_divide(seconds, 86400)
    as_days = stamps.astype("datetime64[D]")
    months = as_days.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (as_days - months).astype(np.int64) + 1
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    parts = [year, month, day, weekday]
    if with_time:
        parts += [seconds / 86400.0, (seconds % 86400) // 3600]
    else:
        parts += [days]
    out = np.column_stack([p.astype(np.float64) for p in parts])
    out[absent] = np.nan
    return out


def _rising_whole(series: pd.Series[Any], kind: str) -> bool:
    """Whole numbers in every row, each above the one before, gaps allowed (a subset of
    the rows): a row number. It says where a row sat in the file, not what it is, and a
    table sorted by its target turns it into a perfect, useless predictor."""
    if kind not in ("integer", "number") or len(series) < 2:
        return False
    values = as_float(series)
    if bool(np.isnan(values).any()) or not bool(np.all(values == np.floor(values))):
        return False
    return bool(np.all(values[1:] > values[:-1]))


def identifier_like(name: str, series: pd.Series[Any]) -> bool:
    """Whether a column looks like an identifier or a row number: by its name, or by
    holding a different whole number (or text) in every row."""
    if _id_like_name(name) or _row_index_name(name):
        return True
    present = series.dropna()
    kind = column_type(series)
    if kind not in ("integer", "string") or len(present) < 0.9 * len(series):
        return False
    return int(present.nunique()) == len(present)


def _row_index_name(name: str) -> bool:
    return re.sub(r"[^0-9a-z]", "", name.lower()) in _ROW_INDEX_NAMES


def _id_like_name(name: str) -> bool:
    tokens = name_tokens(name)
    return bool(tokens) and (tokens[-1] in _ID_TOKENS or tokens[0] in ("id", "unnamed"))


def feature_names(columns: list[str]) -> list[str]:
    """Names LightGBM accepts for the matrix columns (unique, no JSON punctuation)."""
    # LightGBM rejects JSON punctuation in feature names; the names only label the
    # trees in model.txt, the real mapping lives in meta.json.
    names: list[str] = []
    seen: set[str] = set()
    for index, column in enumerate(columns):
        name = re.sub(r"[^0-9A-Za-z_.]+", "_", column) or f"f{index}"
        if name in seen:
            name = f"{name}_{index}"
        seen.add(name)
        names.append(name)
    return names
