"""Arrow tables as the platform takes them: the checks every format's result passes
(unique names, some rows), the final column names, the first rows of a stream of
batches, and the conversion to pandas with nullable integer and boolean dtypes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intentml.ml.datasets.base import DatasetError


def check_table(table: pa.Table, what: str) -> None:
    """Refuse a `what` ("CSV", ...) table without columns, with duplicate names or no rows."""
    check_unique_names(table.column_names, what)
    if table.num_rows == 0:
        raise DatasetError(f"the {what} file has a header but no data rows")


def check_names(names: list[str], what: str) -> list[str]:
    """`check_table`'s and `to_pandas`'s checks of the column names; the final names."""
    check_unique_names(names, what)
    return final_names(names)


def check_unique_names(names: list[str], what: str) -> None:
    """Refuse a file with no columns or with two columns of the same name."""
    if not names:
        raise DatasetError(f"the {what} file has no columns")
    seen: set[str] = set()
    duplicates: list[str] = []
    for name in names:
        if name in seen and name not in duplicates:
            duplicates.append(name)
        seen.add(name)
    if duplicates:
        listed = ", ".join(repr(d) for d in duplicates)
        raise DatasetError(f"duplicate column names: {listed}; every column needs a unique name")


def final_names(names: list[str]) -> list[str]:
    """The column names as the platform uses them: an empty header becomes `unnamed_N`."""
    # A CSV written by pandas with its index has an empty first header.
    final = [name if name.strip() else f"unnamed_{index}" for index, name in enumerate(names)]
    if len(set(final)) != len(final):
        raise DatasetError("duplicate column names after naming the unnamed columns")
    return final


def first_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema, max_rows: int) -> pa.Table:
    """The batches of a stream up to the one that reaches `max_rows` rows, as a table."""
    taken: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        taken.append(batch)
        rows += batch.num_rows
        if rows >= max_rows:
            break
    return pa.Table.from_batches(taken, schema=schema)


_NULLABLE_INTS: dict[pa.DataType, Any] = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
}


def _types_mapper(arrow_type: pa.DataType) -> Any:
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return _NULLABLE_INTS.get(arrow_type)


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """The table as a DataFrame: final names, pandas-friendly types, nullable dtypes."""
    names = final_names(table.column_names)
    columns = [_normalize_column(name, table.column(i)) for i, name in enumerate(names)]
    normalized = pa.Table.from_arrays(columns, names=names)
    try:
        frame: pd.DataFrame = normalized.to_pandas(date_as_object=False, types_mapper=_types_mapper)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise DatasetError(f"could not convert the data: {exc}") from exc
    return frame


def _normalize_column(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Cast arrow types pandas has no good equivalent for into ones it has."""
    kind = column.type
    try:
        if pa.types.is_dictionary(kind):
            return _normalize_column(name, column.cast(kind.value_type))
        if pa.types.is_decimal(kind) or pa.types.is_float16(kind):
            return column.cast(pa.float64())
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            return column.cast(pa.string())
        if pa.types.is_time(kind) or pa.types.is_duration(kind):
            return pc.cast(column, pa.string())
        if pa.types.is_nested(kind):
            # Lists and objects become their JSON text: usable as a category, and
            # what a client would send back.
            encoded = [
                None if v is None else msgspec.json.encode(v).decode() for v in column.to_pylist()
            ]
            return pa.chunked_array([pa.array(encoded, pa.string())])
    except (pa.ArrowException, msgspec.EncodeError) as exc:
        raise DatasetError(f"column '{name}' has values of an unsupported type ({kind})") from exc
    return column
