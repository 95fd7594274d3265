"""The pieces of the one dataset pipeline: formats, column-type merging, first batches."""

from __future__ import annotations

import pyarrow as pa
import pytest

from intentml.ml.datasets import FORMATS, ColumnInfo, DatasetError, DatasetFormat
from intentml.ml.datasets.column_types import ColumnTypes
from intentml.ml.datasets.pipeline import _READERS
from intentml.ml.datasets.tables import check_names, check_table, first_batches


def test_every_format_has_one_reader_implementing_the_protocol() -> None:
    assert tuple(_READERS) == FORMATS
    for reader in _READERS.values():
        assert isinstance(reader.label, str)
        implemented: DatasetFormat = reader
        assert callable(implemented.read) and callable(implemented.scan)


def test_column_types_merge_over_batches_and_ignore_all_missing_ones() -> None:
    types = ColumnTypes()
    types.add("a", "integer", "integer")
    types.add("b", None, "string")
    types.add("a", "number", "integer")
    types.add("b", None, "string")
    assert types.columns() == [ColumnInfo("a", "number"), ColumnInfo("b", "string")]


def test_column_types_type_a_batch_through_pandas() -> None:
    types = ColumnTypes()
    batch = pa.record_batch({"n": [1, None], "s": ["x", "y"], "empty": pa.array([None, None])})
    types.add_frame_types(batch)
    assert [c.type for c in types.columns()] == ["integer", "string", "string"]
    assert types.merged.keys() == {"n", "s"}  # the all-missing column keeps its fallback


def test_first_batches_stop_at_the_batch_that_reaches_max_rows() -> None:
    schema = pa.schema([("x", pa.int64())])
    batches = [pa.record_batch({"x": [i, i]}, schema=schema) for i in range(5)]
    assert first_batches(iter(batches), schema, 3).num_rows == 4
    assert first_batches(iter(batches), schema, 100).num_rows == 10
    assert first_batches(iter([]), schema, 1).num_rows == 0


def test_table_and_name_checks() -> None:
    with pytest.raises(DatasetError, match="no data rows"):
        check_table(pa.table({"a": pa.array([], pa.int64())}), "CSV")
    with pytest.raises(DatasetError, match="duplicate column names: 'a'"):
        check_names(["a", "b", "a"], "CSV")
    with pytest.raises(DatasetError, match="the CSV file has no columns"):
        check_names([], "CSV")
    assert check_names(["", "b"], "CSV") == ["unnamed_0", "b"]
