"""Reading uploaded tabular files (CSV, Parquet, JSON Lines) into pandas.

Parsing goes through pyarrow, which is multi-threaded and infers column types over
the whole file. Every parser failure becomes a `DatasetError` whose message a user
can act on (with the line number when it is known).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

#: The user-facing column types, in the order a reader would expect them.
COLUMN_TYPES = ("integer", "number", "boolean", "string", "date", "datetime")

FORMATS = ("csv", "parquet", "jsonl")

# Enough of the file to sniff the format and the CSV delimiter.
_SNIFF_BYTES = 64 * 1024

_CSV_DELIMITERS = (",", ";", "\t", "|")

# When re-reading a JSON Lines file to find the line of an error, the whole file has
# to fit in one block (pyarrow numbers rows per block); beyond this size we give up
# on the line number rather than hold a huge block in memory.
_JSON_SINGLE_BLOCK_MAX = 256 * 1024 * 1024

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_CSV_ROW_ERROR = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+): (.*)", re.S)
_JSON_ROW_ERROR = re.compile(r"^(?:JSON parse error: )?(.*?)\.? in row (\d+)$", re.S)


class ColumnInfo(msgspec.Struct, frozen=True):
    """A column of a dataset and its user-facing type (one of `COLUMN_TYPES`)."""

    name: str
    type: str


class DatasetError(ValueError):
    """The file cannot be used as a dataset; the message says why (and where)."""


def detect_format(filename: str, head: bytes) -> str:
    """Guess the format of an upload from its name and its first bytes.

    Content wins over the extension: Parquet is recognised by its `PAR1` magic, JSON
    Lines by a leading `{`; anything else that looks like text is CSV. Raises
    `DatasetError` for empty files, binary data, JSON arrays and files whose
    extension promises a format their content does not have.
    """
    name = filename.lower()
    if not head:
        raise DatasetError("the file is empty")
    if head.startswith(b"PAR1"):
        return "parquet"
    if name.endswith(".parquet") or name.endswith(".pq"):
        raise DatasetError(
            f"'{filename}' is named like a Parquet file but does not start with the Parquet "
            "magic bytes 'PAR1'; the file may be truncated or in another format"
        )
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise DatasetError("the file contains only whitespace")
    if text.startswith(b"{"):
        return "jsonl"
    if text.startswith(b"[") and (name.endswith(".json") or text[1:].lstrip()[:1] in (b"{", b"")):
        raise DatasetError(
            "the file is a JSON array; upload JSON Lines instead (one JSON object per line, "
            "no surrounding [ ])"
        )
    if name.endswith((".jsonl", ".ndjson", ".json")):
        raise DatasetError(
            f"'{filename}' is named like JSON Lines but its first non-blank character is not "
            "'{'; each line must be one JSON object"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DatasetError(
            "the file is UTF-16 text (as Excel's 'Unicode text' export writes it); save it as "
            "CSV UTF-8 and upload again"
        )
    if _looks_binary(head):
        raise DatasetError(
            "the file is not CSV, Parquet or JSON Lines (it contains binary data); "
            "compressed files (zip, gzip, xlsx) must be extracted and saved as CSV first"
        )
    return "csv"


def read_dataset(path: Path, fmt: str, max_rows: int | None = None) -> pd.DataFrame:
    """Read a dataset file into a DataFrame.

    Integer and boolean columns become pandas' nullable `Int64`/`boolean` dtypes so a
    missing value does not silently turn integers into floats; dates become
    `datetime64`. With `max_rows`, only (about) the first `max_rows` rows are parsed
    and the frame is cut to exactly that many. Raises `DatasetError` for parser
    failures, duplicate column names, and files without columns or rows.
    """
    if fmt not in FORMATS:
        raise DatasetError(f"unknown format '{fmt}'; expected one of: {', '.join(FORMATS)}")
    if max_rows is not None and max_rows < 1:
        raise ValueError("max_rows must be positive")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"cannot read the dataset file: {exc.strerror or exc}") from exc
    if size == 0:
        raise DatasetError("the file is empty")
    if fmt == "csv":
        table = _read_csv(path, max_rows)
    elif fmt == "parquet":
        table = _read_parquet(path, max_rows)
    else:
        table = _read_jsonl(path, max_rows, size)
    if max_rows is not None and table.num_rows > max_rows:
        table = table.slice(0, max_rows)
    return _to_pandas(table)


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
        return _string_kind(values)
    return _object_kind(values)


def column_infos(df: pd.DataFrame) -> list[ColumnInfo]:
    """The name and user-facing type of every column, in file order."""
    return [ColumnInfo(name=str(name), type=column_type(df[name])) for name in df.columns]


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


# --------------------------------------------------------------------------- readers


def _read_csv(path: Path, max_rows: int | None) -> pa.Table:
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    delimiter = _sniff_delimiter(head)
    convert = pa_csv.ConvertOptions(strings_can_be_null=True)
    parse = pa_csv.ParseOptions(delimiter=delimiter)
    table = _read_csv_table(path, parse, convert, pa_csv.ReadOptions(), max_rows)
    if any(pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) for f in table.schema):
        # pyarrow falls back to binary for text that is not UTF-8; most such files
        # come from Excel on Windows, so decode them as cp1252 (latin-1 never fails).
        for encoding in ("cp1252", "latin-1"):
            try:
                options = pa_csv.ReadOptions(encoding=encoding)
                table = _read_csv_table(path, parse, convert, options, max_rows)
                break
            except (DatasetError, UnicodeDecodeError):
                continue
    return table


def _read_csv_table(
    path: Path,
    parse: pa_csv.ParseOptions,
    convert: pa_csv.ConvertOptions,
    read: pa_csv.ReadOptions,
    max_rows: int | None,
) -> pa.Table:
    try:
        if max_rows is None:
            table = pa_csv.read_csv(
                path, read_options=read, parse_options=parse, convert_options=convert
            )
        else:
            table = _read_csv_head(path, read, parse, convert, max_rows)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise DatasetError("the file is empty") from exc
        # The fast multi-threaded read does not know row numbers and cannot handle
        # line breaks inside quoted values; a second single-threaded pass does both.
        slow_read = pa_csv.ReadOptions(use_threads=False, encoding=read.encoding)
        slow_parse = pa_csv.ParseOptions(delimiter=parse.delimiter, newlines_in_values=True)
        try:
            if max_rows is None:
                table = pa_csv.read_csv(
                    path, read_options=slow_read, parse_options=slow_parse, convert_options=convert
                )
            else:
                table = _read_csv_head(path, slow_read, slow_parse, convert, max_rows)
        except pa.ArrowInvalid as exc2:
            raise DatasetError(_csv_error_message(str(exc2))) from exc2
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"could not read the CSV file: {exc}") from exc
    _check_table(table, "CSV")
    return table


def _read_csv_head(
    path: Path,
    read: pa_csv.ReadOptions,
    parse: pa_csv.ParseOptions,
    convert: pa_csv.ConvertOptions,
    max_rows: int,
) -> pa.Table:
    # A streaming reader infers types from its first block only, which is fine for a
    # preview of the first rows.
    batches: list[pa.RecordBatch] = []
    rows = 0
    with pa_csv.open_csv(
        path, read_options=read, parse_options=parse, convert_options=convert
    ) as reader:
        schema = reader.schema
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if rows >= max_rows:
                break
    return pa.Table.from_batches(batches, schema=schema)


def _csv_error_message(raw: str) -> str:
    match = _CSV_ROW_ERROR.search(raw)
    if match:
        line, expected, got, text = match.groups()
        snippet = text.strip()
        if len(snippet) > 80:
            snippet = snippet[:77] + "..."
        return (
            f"CSV line {line}: expected {expected} columns (as in the header) but found "
            f"{got}: {snippet!r}"
        )
    message = raw.removeprefix("CSV parse error: ").removeprefix("CSV conversion error ")
    return f"could not parse the CSV file: {message}"


def _read_parquet(path: Path, max_rows: int | None) -> pa.Table:
    try:
        if max_rows is None:
            table = pq.read_table(path)
        else:
            parquet_file = pq.ParquetFile(path)
            batches = []
            rows = 0
            for batch in parquet_file.iter_batches(batch_size=min(max_rows, 65536)):
                batches.append(batch)
                rows += batch.num_rows
                if rows >= max_rows:
                    break
            table = pa.Table.from_batches(batches, schema=parquet_file.schema_arrow)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"could not read the Parquet file: {exc}") from exc
    _check_table(table, "Parquet")
    return table


def _read_jsonl(path: Path, max_rows: int | None, size: int) -> pa.Table:
    try:
        if max_rows is None:
            table = pa_json.read_json(path)
        else:
            batches = []
            rows = 0
            with pa_json.open_json(path) as reader:
                schema = reader.schema
                for batch in reader:
                    batches.append(batch)
                    rows += batch.num_rows
                    if rows >= max_rows:
                        break
            table = pa.Table.from_batches(batches, schema=schema)
    except pa.ArrowInvalid as exc:
        raise DatasetError(_json_error_message(path, str(exc), size)) from exc
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"could not read the JSON Lines file: {exc}") from exc
    _check_table(table, "JSON Lines")
    return table


def _json_error_message(path: Path, raw: str, size: int) -> str:
    if "Empty JSON file" in raw or "no columns" in raw.lower():
        return "the file contains no JSON objects"
    if size <= _JSON_SINGLE_BLOCK_MAX:
        # pyarrow numbers rows within a block; reading the whole file as one block
        # turns its row number into the line number.
        try:
            pa_json.read_json(path, read_options=pa_json.ReadOptions(block_size=size + 1))
        except pa.ArrowInvalid as exc:
            raw = str(exc)
    match = _JSON_ROW_ERROR.match(raw)
    if match and size <= _JSON_SINGLE_BLOCK_MAX:
        problem, row = match.groups()
        return f"JSON Lines line {int(row) + 1}: {problem}"
    return f"could not parse the JSON Lines file: {raw.removeprefix('JSON parse error: ')}"


def _check_table(table: pa.Table, what: str) -> None:
    _check_unique_names(table.column_names, what)
    if table.num_rows == 0:
        raise DatasetError(f"the {what} file has a header but no data rows")


# --------------------------------------------------------------------- arrow → pandas

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


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    names = _final_names(table.column_names)
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


# ------------------------------------------------------------------------ sniffing


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    sample = head[:4096]
    # Control characters other than tab/CR/LF/FF are rare in text of any encoding.
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return controls > max(2, len(sample) // 100)


def _sniff_delimiter(head: bytes) -> str:
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    first_line = _first_record(text)
    counts = {d: _count_unquoted(first_line, d) for d in _CSV_DELIMITERS}
    best = max(_CSV_DELIMITERS, key=lambda d: counts[d])
    # A comma wins ties: a header like "a;b,c" is more likely a CSV with odd names.
    if counts[best] == 0 or counts[","] >= counts[best]:
        return ","
    return best


def _first_record(text: str) -> str:
    in_quotes = False
    for index, char in enumerate(text):
        if char == '"':
            in_quotes = not in_quotes
        elif char in "\r\n" and not in_quotes:
            return text[:index]
    return text


def _count_unquoted(line: str, delimiter: str) -> int:
    count = 0
    in_quotes = False
    for char in line:
        if char == '"':
            in_quotes = not in_quotes
        elif char == delimiter and not in_quotes:
            count += 1
    return count


# --------------------------------------------------------------------- type sniffing


def _datetime_kind(series: pd.Series[Any]) -> str:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return "datetime"
    values = series.dropna()
    if len(values) == 0:
        return "date"
    normalized = values.dt.normalize()
    return "date" if bool((values == normalized).all()) else "datetime"


def _string_kind(values: pd.Series[Any]) -> str:
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
        return _string_kind(values.astype(str))
    return "string"


# ------------------------------------------------------------- streaming inspection

# CSV blocks and JSON Lines chunks parsed at a time by `inspect_dataset`. pyarrow's
# streaming CSV reader reads about 32 blocks ahead, so its memory is some 40 times
# this, whatever the size of the file.
_INSPECT_BLOCK_BYTES = 128 * 1024
# A CSV record must fit in one block; past `_INSPECT_BLOCK_BYTES`, inspection starts
# over with pyarrow's default block size, the limit `read_dataset` has too.
_CSV_MAX_BLOCK_BYTES = 1024 * 1024
_INSPECT_PARQUET_ROWS = 65536

# pyarrow's CSV reader takes exactly these as booleans (its default true/false values).
_CSV_BOOLEANS = pa.array(["1", "True", "TRUE", "true", "0", "False", "FALSE", "false"])


class DatasetSummary(msgspec.Struct, frozen=True):
    """What `inspect_dataset` finds: the row count and the typed columns."""

    rows: int
    columns: list[ColumnInfo]


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


class _TypeMerger:
    """Column types combined over batches; a batch where a column is all missing is ignored."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.merged: dict[str, str] = {}
        # The type of a column that is missing everywhere: what typing it whole gives.
        self.fallback: dict[str, str] = {}

    def add(self, name: str, kind: str | None, fallback: str) -> None:
        if name not in self.fallback:
            self.names.append(name)
            self.fallback[name] = fallback
        if kind is None:
            return
        seen = self.merged.get(name)
        self.merged[name] = kind if seen is None else merge_column_types(seen, kind)

    def columns(self) -> list[ColumnInfo]:
        return [ColumnInfo(n, self.merged.get(n, self.fallback[n])) for n in self.names]


def inspect_dataset(path: Path, fmt: str) -> DatasetSummary:
    """Count the rows of a dataset file and type its columns, reading it in batches.

    Gives the same rows, column names and types as `read_dataset` followed by
    `column_infos`, and raises the same `DatasetError`s (a Parquet file's without
    its path), but holds only a few batches in memory at a time: some MiB for CSV
    and JSON Lines, one row group for Parquet, whatever the size of the file.
    """
    if fmt not in FORMATS:
        raise DatasetError(f"unknown format '{fmt}'; expected one of: {', '.join(FORMATS)}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"cannot read the dataset file: {exc.strerror or exc}") from exc
    if size == 0:
        raise DatasetError("the file is empty")
    if fmt == "csv":
        return _inspect_csv(path)
    if fmt == "parquet":
        return _inspect_parquet(path)
    return _inspect_jsonl(path)


def _check_names(names: list[str], what: str) -> list[str]:
    """`_check_table`'s and `_to_pandas`'s checks of the column names; the final names."""
    _check_unique_names(names, what)
    return _final_names(names)


def _check_unique_names(names: list[str], what: str) -> None:
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


def _final_names(names: list[str]) -> list[str]:
    """The column names as the platform uses them: an empty header becomes `unnamed_N`."""
    # A CSV written by pandas with its index has an empty first header.
    final = [name if name.strip() else f"unnamed_{index}" for index, name in enumerate(names)]
    if len(set(final)) != len(final):
        raise DatasetError("duplicate column names after naming the unnamed columns")
    return final


def _add_frame_types(merger: _TypeMerger, batch: pa.RecordBatch) -> None:
    """Type each column of a batch as `column_type` does, via its pandas conversion."""
    frame = _to_pandas(pa.Table.from_batches([batch]))
    for name in frame.columns:
        series = frame[name]
        kind = column_type(series)
        merger.add(str(name), None if bool(series.isna().all()) else kind, kind)


def _inspect_parquet(path: Path) -> DatasetSummary:
    merger = _TypeMerger()
    rows = 0
    try:
        parquet_file = pq.ParquetFile(path)
        _check_names(parquet_file.schema_arrow.names, "Parquet")
        for batch in parquet_file.iter_batches(batch_size=_INSPECT_PARQUET_ROWS):
            rows += batch.num_rows
            _add_frame_types(merger, batch)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"could not read the Parquet file: {exc}") from exc
    if rows == 0:
        raise DatasetError("the Parquet file has a header but no data rows")
    return DatasetSummary(rows, merger.columns())


class _NotUtf8(Exception):
    """The CSV file is not UTF-8: inspect it again in a legacy encoding."""


def _inspect_csv(path: Path) -> DatasetSummary:
    _check_quotes_closed(path)
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    parse = pa_csv.ParseOptions(delimiter=_sniff_delimiter(head), newlines_in_values=True)
    try:
        return _inspect_csv_as(path, parse, "utf8")
    except _NotUtf8:
        pass
    # As in `_read_csv`: text that is not UTF-8 mostly comes from Excel on Windows
    # (cp1252); latin-1 decodes anything.
    try:
        return _inspect_csv_as(path, parse, "cp1252")
    except (_NotUtf8, UnicodeDecodeError):
        return _inspect_csv_as(path, parse, "latin-1")


def _inspect_csv_as(path: Path, parse: pa_csv.ParseOptions, encoding: str) -> DatasetSummary:
    try:
        return _inspect_csv_blocks(path, parse, encoding, _INSPECT_BLOCK_BYTES)
    except _RecordTooLong:
        return _inspect_csv_blocks(path, parse, encoding, _CSV_MAX_BLOCK_BYTES)


def _check_quotes_closed(path: Path) -> None:
    """Refuse a CSV file whose last quoted value is never closed.

    pyarrow reads such a value to the end of the file and takes the rest of the file
    as one field, so a truncated upload would be accepted with its last rows lost.
    Escaped quotes come in pairs (`""`), so an odd number of quote characters in the
    file means an unclosed one.
    """
    quotes = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            quotes += chunk.count(b'"')
    if quotes % 2 == 0:
        return
    # Only on the error path, and still chunk by chunk: the line the unclosed quote opens.
    inside, opening_line, lines_before = False, 1, 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            position = chunk.find(b'"')
            while position != -1:
                inside = not inside
                if inside:
                    opening_line = lines_before + chunk.count(b"\n", 0, position) + 1
                position = chunk.find(b'"', position + 1)
            lines_before += chunk.count(b"\n")
    data_line = opening_line
    raise DatasetError(
        f"line {data_line}: a quoted value opens here and is never closed (a missing "
        '`"`, or a file cut short); nothing was stored'
    )


class _RecordTooLong(Exception):
    """A CSV record does not fit in the block size tried."""


def _inspect_csv_blocks(
    path: Path, parse: pa_csv.ParseOptions, encoding: str, block_size: int
) -> DatasetSummary:
    utf8 = encoding == "utf8"
    try:
        names = _csv_header(path, parse, encoding)
        final = _check_names(names, "CSV")
        # Every column is read as text and typed per batch below: pyarrow's streaming
        # reader would fix each column's type from the first block and then fail on a
        # later block that does not fit (integers first, decimals later).
        convert = pa_csv.ConvertOptions(
            strings_can_be_null=True, column_types={name: pa.string() for name in names}
        )
        # Single-threaded with newlines in values: the reader then knows row numbers
        # and quoted line breaks, as `_read_csv_table`'s second pass does.
        read = pa_csv.ReadOptions(use_threads=False, encoding=encoding, block_size=block_size)
        merger = _TypeMerger()
        rows = 0
        with pa_csv.open_csv(
            path, read_options=read, parse_options=parse, convert_options=convert
        ) as reader:
            for batch in reader:
                rows += batch.num_rows
                for name, column in zip(final, batch.columns, strict=True):
                    known = merger.merged.get(name)
                    if known != "string":  # nothing a later value can change
                        merger.add(name, _csv_text_type(column, known), "string")
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "straddl" in message and block_size < _CSV_MAX_BLOCK_BYTES:
            raise _RecordTooLong from exc
        if utf8 and "UTF8" in message:
            raise _NotUtf8 from exc
        if "Empty CSV file" in message:
            raise DatasetError("the file is empty") from exc
        raise DatasetError(_csv_error_message(message)) from exc
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"could not read the CSV file: {exc}") from exc
    if rows == 0:
        raise DatasetError("the CSV file has a header but no data rows")
    for name in final:
        merger.add(name, None, "string")
    return DatasetSummary(rows, merger.columns())


def _csv_header(path: Path, parse: pa_csv.ParseOptions, encoding: str) -> list[str]:
    """The column names: the first record, parsed by pyarrow with the file's options."""
    record = b""
    with path.open("rb") as fh:
        buffer = b""
        in_quotes = False
        scanned = 0
        while True:
            chunk = fh.read(_SNIFF_BYTES)
            buffer += chunk
            end = None
            for index in range(scanned, len(buffer)):
                byte = buffer[index]
                if byte == 0x22:  # '"'
                    in_quotes = not in_quotes
                elif byte in (0x0A, 0x0D) and not in_quotes:
                    end = index
                    break
            scanned = len(buffer)
            if end is not None or not chunk:
                record = buffer if end is None else buffer[:end]
                break
    read = pa_csv.ReadOptions(use_threads=False, encoding=encoding)
    header = pa_csv.read_csv(io.BytesIO(record + b"\n"), read_options=read, parse_options=parse)
    return list(header.column_names)


def _csv_text_type(column: pa.Array, known: str | None = None) -> str | None:
    """The type pyarrow's CSV inference and `column_type` give a column of these texts.

    None if every value is missing. Tries what pyarrow tries, in its order: integer,
    boolean, date or timestamp (naive; a date when all at midnight, as
    `_datetime_kind` says), timestamp with a zone offset, decimal number; anything
    else is text, which `_string_kind` may still call a date. `known`, the type of
    the column so far, lets a number column skip the tries that cannot matter
    (failed casts are what inspection spends its time on).
    """
    values = column.drop_null()
    if len(values) == 0:
        return None
    if known == "number":
        return "number" if _casts(values, pa.float64()) else "string"
    if _casts(values, pa.int64()):
        return "integer"
    if bool(pc.all(pc.is_in(values, value_set=_CSV_BOOLEANS)).as_py()):
        return "boolean"
    try:
        stamps = pc.cast(values, pa.timestamp("ns"))
    except pa.ArrowInvalid:
        pass
    else:
        midnight = pc.all(pc.equal(stamps, pc.floor_temporal(stamps, unit="day"))).as_py()
        return "date" if bool(midnight) else "datetime"
    if _casts(values, pa.timestamp("ns", tz="UTC")):
        return "datetime"
    if _casts(values, pa.float64()):
        return "number"
    uniques: pd.Series[Any] = pc.unique(values).to_pandas()
    return _string_kind(uniques)


def _casts(values: pa.Array, target: pa.DataType) -> bool:
    try:
        pc.cast(values, target)
    except pa.ArrowInvalid:
        return False
    return True


def _inspect_jsonl(path: Path) -> DatasetSummary:
    merger = _TypeMerger()
    rows = 0
    for first_line, chunk in _jsonl_chunks(path):
        try:
            # One block per chunk: pyarrow then numbers rows from the chunk's start.
            options = pa_json.ReadOptions(use_threads=False, block_size=len(chunk) + 1)
            table = pa_json.read_json(io.BytesIO(chunk), read_options=options)
        except pa.ArrowInvalid as exc:
            raise DatasetError(_jsonl_chunk_error(str(exc), first_line)) from exc
        except pa.ArrowException as exc:
            raise DatasetError(f"could not read the JSON Lines file: {exc}") from exc
        rows += table.num_rows
        for batch in table.to_batches():
            _add_frame_types(merger, batch)
    if rows == 0 and not merger.names:
        raise DatasetError("the file contains no JSON objects")
    _check_names(merger.names, "JSON Lines")
    if rows == 0:
        raise DatasetError("the JSON Lines file has a header but no data rows")
    return DatasetSummary(rows, merger.columns())


def _jsonl_chunks(path: Path) -> Iterator[tuple[int, bytes]]:
    """Whole lines of the file, about `_INSPECT_BLOCK_BYTES` at a time, with the first's number.

    Chunks that are only whitespace are left out.
    """
    try:
        with path.open("rb") as fh:
            lines: list[bytes] = []
            size = 0
            first_line = 1
            for line_number, line in enumerate(fh, start=1):
                lines.append(line)
                size += len(line)
                if size >= _INSPECT_BLOCK_BYTES:
                    chunk = b"".join(lines)
                    if chunk.strip():
                        yield first_line, chunk
                    lines, size, first_line = [], 0, line_number + 1
            chunk = b"".join(lines)
            if chunk.strip():
                yield first_line, chunk
    except OSError as exc:
        raise DatasetError(f"could not read the JSON Lines file: {exc}") from exc


def _jsonl_chunk_error(raw: str, first_line: int) -> str:
    if "Empty JSON file" in raw or "no columns" in raw.lower():
        return "the file contains no JSON objects"
    match = _JSON_ROW_ERROR.match(raw)
    if match:
        problem, row = match.groups()
        return f"JSON Lines line {first_line + int(row)}: {problem}"
    return f"could not parse the JSON Lines file: {raw.removeprefix('JSON parse error: ')}"
