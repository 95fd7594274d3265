"""The one pipeline every format goes through: sniff → read or inspect → type.

`detect_format` (in `sniff`) names the format; the format's `DatasetFormat` reads the
file whole or streams it; the checks of names and rows and the typing of columns are
done here and in `column_types`, once for all formats, so the full read and the
streaming inspection agree on every file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from intentml.ml.datasets.base import FORMATS, DatasetError, DatasetFormat, DatasetSummary
from intentml.ml.datasets.csv import CsvFormat
from intentml.ml.datasets.jsonl import JsonLinesFormat
from intentml.ml.datasets.parquet import ParquetFormat
from intentml.ml.datasets.tables import check_table, to_pandas

_READERS: dict[str, DatasetFormat] = {
    "csv": CsvFormat(),
    "parquet": ParquetFormat(),
    "jsonl": JsonLinesFormat(),
}
assert tuple(_READERS) == FORMATS


def read_dataset(path: Path, fmt: str, max_rows: int | None = None) -> pd.DataFrame:
    """Read a dataset file into a DataFrame.

    Integer and boolean columns become pandas' nullable `Int64`/`boolean` dtypes so a
    missing value does not silently turn integers into floats; dates become
    `datetime64`. With `max_rows`, only (about) the first `max_rows` rows are parsed
    and the frame is cut to exactly that many. Raises `DatasetError` for parser
    failures, duplicate column names, and files without columns or rows.
    """
    reader = _reader(fmt)
    if max_rows is not None and max_rows < 1:
        raise ValueError("max_rows must be positive")
    size = _size(path)
    table = reader.read(path, size, max_rows)
    check_table(table, reader.label)
    if max_rows is not None and table.num_rows > max_rows:
        table = table.slice(0, max_rows)
    return to_pandas(table)


def inspect_dataset(path: Path, fmt: str) -> DatasetSummary:
    """Count the rows of a dataset file, type and profile its columns, reading it in batches.

    Gives the same rows, column names, types and profiles as `read_dataset` followed
    by `column_infos` and `profile_frame`, and raises the same `DatasetError`s (a
    Parquet file's without its path), but holds only a few batches in memory at a
    time: some MiB for CSV and JSON Lines, one row group for Parquet, whatever the
    size of the file (the profiles' distinct counts are capped, see `profiling`).
    """
    reader = _reader(fmt)
    types = reader.scan(path, _size(path))
    if types.rows == 0:
        raise DatasetError(f"the {reader.label} file has a header but no data rows")
    return DatasetSummary(types.rows, types.columns(), types.profiles())


def _reader(fmt: str) -> DatasetFormat:
    reader = _READERS.get(fmt)
    if reader is None:
        raise DatasetError(f"unknown format '{fmt}'; expected one of: {', '.join(FORMATS)}")
    return reader


def _size(path: Path) -> int:
    """The size of a non-empty dataset file (`DatasetError` if it is empty or unreadable)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"cannot read the dataset file: {exc.strerror or exc}") from exc
    if size == 0:
        raise DatasetError("the file is empty")
    return size
