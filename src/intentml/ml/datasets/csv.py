"""CSV: sniffing the delimiter, the full read (pyarrow's multi-threaded reader with a
slow second pass for exact line numbers) and the streaming scan (every column read as
text and typed per block, as pyarrow's inference would type it whole).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from intentml.ml.datasets import base
from intentml.ml.datasets.base import SNIFF_BYTES, DatasetError
from intentml.ml.datasets.column_types import ColumnTypes, parse_iso_datetimes, string_kind
from intentml.ml.datasets.profiling import ColumnProfiler
from intentml.ml.datasets.tables import check_names, check_table, first_batches

_CSV_DELIMITERS = (",", ";", "\t", "|")

_CSV_ROW_ERROR = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+): (.*)", re.S)

# A CSV record must fit in one block; past `INSPECT_BLOCK_BYTES`, inspection starts
# over with pyarrow's default block size, the limit `read_dataset` has too.
_CSV_MAX_BLOCK_BYTES = 1024 * 1024

# pyarrow's CSV reader takes exactly these as booleans (its default true/false values).
_CSV_BOOLEANS = pa.array(["1", "True", "TRUE", "true", "0", "False", "FALSE", "false"])
_CSV_TRUES = pa.array(["1", "True", "TRUE", "true"])


class CsvFormat:
    """CSV (any of `,` `;` tab `|` as the delimiter; UTF-8, else cp1252 or latin-1)."""

    label = "CSV"

    def read(self, path: Path, size: int, max_rows: int | None) -> pa.Table:
        """The file as one table (with `max_rows`, its first blocks)."""
        convert = pa_csv.ConvertOptions(strings_can_be_null=True)
        parse = pa_csv.ParseOptions(delimiter=sniff_delimiter(path))
        table = _read_table(path, parse, convert, pa_csv.ReadOptions(), max_rows)
        if any(
            pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) for f in table.schema
        ):
            # pyarrow falls back to binary for text that is not UTF-8; most such files
            # come from Excel on Windows, so decode them as cp1252 (latin-1 never fails).
            for encoding in ("cp1252", "latin-1"):
                try:
                    options = pa_csv.ReadOptions(encoding=encoding)
                    reread = _read_table(path, parse, convert, options, max_rows)
                    # A re-read that fails the checks keeps the first table.
                    check_table(reread, self.label)
                    table = reread
                    break
                except (DatasetError, UnicodeDecodeError):
                    continue
        return table

    def scan(self, path: Path, size: int) -> ColumnTypes:
        """Stream the file block by block, trying UTF-8, then cp1252, then latin-1."""
        _check_quotes_closed(path)
        parse = pa_csv.ParseOptions(delimiter=sniff_delimiter(path), newlines_in_values=True)
        try:
            return _scan_as(path, parse, "utf8")
        except _NotUtf8:
            pass
        # As in `read`: text that is not UTF-8 mostly comes from Excel on Windows
        # (cp1252); latin-1 decodes anything.
        try:
            return _scan_as(path, parse, "cp1252")
        except (_NotUtf8, UnicodeDecodeError):
            return _scan_as(path, parse, "latin-1")


# ------------------------------------------------------------------------ sniffing


def sniff_delimiter(path: Path) -> str:
    """The delimiter of a CSV file: the most frequent candidate outside quotes in its header."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
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


# ------------------------------------------------------------------------ full read


def _read_table(
    path: Path,
    parse: pa_csv.ParseOptions,
    convert: pa_csv.ConvertOptions,
    read: pa_csv.ReadOptions,
    max_rows: int | None,
) -> pa.Table:
    try:
        table = _read_with(path, read, parse, convert, max_rows)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise DatasetError("the file is empty") from exc
        # The fast multi-threaded read does not know row numbers and cannot handle
        # line breaks inside quoted values; a second single-threaded pass does both.
        slow_read = pa_csv.ReadOptions(use_threads=False, encoding=read.encoding)
        slow_parse = pa_csv.ParseOptions(delimiter=parse.delimiter, newlines_in_values=True)
        try:
            table = _read_with(path, slow_read, slow_parse, convert, max_rows)
        except pa.ArrowInvalid as exc2:
            raise DatasetError(_csv_error_message(str(exc2))) from exc2
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"could not read the CSV file: {exc}") from exc
    return table


def _read_with(
    path: Path,
    read: pa_csv.ReadOptions,
    parse: pa_csv.ParseOptions,
    convert: pa_csv.ConvertOptions,
    max_rows: int | None,
) -> pa.Table:
    if max_rows is None:
        return pa_csv.read_csv(
            path, read_options=read, parse_options=parse, convert_options=convert
        )
    # A streaming reader infers types from its first block only, which is fine for a
    # preview of the first rows.
    with pa_csv.open_csv(
        path, read_options=read, parse_options=parse, convert_options=convert
    ) as reader:
        return first_batches(reader, reader.schema, max_rows)


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


# ------------------------------------------------------------------- streaming scan


class _NotUtf8(Exception):
    """The CSV file is not UTF-8: inspect it again in a legacy encoding."""


class _RecordTooLong(Exception):
    """A CSV record does not fit in the block size tried."""


def _scan_as(path: Path, parse: pa_csv.ParseOptions, encoding: str) -> ColumnTypes:
    try:
        return _scan_blocks(path, parse, encoding, base.INSPECT_BLOCK_BYTES)
    except _RecordTooLong:
        return _scan_blocks(path, parse, encoding, _CSV_MAX_BLOCK_BYTES)


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


def _scan_blocks(
    path: Path, parse: pa_csv.ParseOptions, encoding: str, block_size: int
) -> ColumnTypes:
    utf8 = encoding == "utf8"
    try:
        names = _csv_header(path, parse, encoding)
        final = check_names(names, CsvFormat.label)
        # Every column is read as text and typed per batch below: pyarrow's streaming
        # reader would fix each column's type from the first block and then fail on a
        # later block that does not fit (integers first, decimals later).
        convert = pa_csv.ConvertOptions(
            strings_can_be_null=True, column_types={name: pa.string() for name in names}
        )
        # Single-threaded with newlines in values: the reader then knows row numbers
        # and quoted line breaks, as `_read_table`'s second pass does.
        read = pa_csv.ReadOptions(use_threads=False, encoding=encoding, block_size=block_size)
        types = ColumnTypes()
        types.expected_columns = len(final)
        with pa_csv.open_csv(
            path, read_options=read, parse_options=parse, convert_options=convert
        ) as reader:
            for batch in reader:
                types.rows += batch.num_rows
                for name, column in zip(final, batch.columns, strict=True):
                    known = types.merged.get(name)
                    # Once text, nothing a later value can change: only profiled.
                    kind: str | None = "string"
                    typed: pa.Array | None = None
                    if known != "string":
                        kind, typed = _csv_text_type(column, known)
                        types.add(name, kind, "string")
                    _profile_texts(types.profiler(name), column, kind, typed)
                types.profiled_rows += batch.num_rows
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
    for name in final:
        types.add(name, None, "string")
    return types


def _csv_header(path: Path, parse: pa_csv.ParseOptions, encoding: str) -> list[str]:
    """The column names: the first record, parsed by pyarrow with the file's options."""
    record = b""
    with path.open("rb") as fh:
        buffer = b""
        in_quotes = False
        scanned = 0
        while True:
            chunk = fh.read(SNIFF_BYTES)
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


def _csv_text_type(column: pa.Array, known: str | None = None) -> tuple[str | None, pa.Array]:
    """The type pyarrow's CSV inference and `column_type` give a column of these texts,
    with the present values read as that type (numbers as float64, dates and date-times
    as ns timestamps, booleans as booleans; other texts as they are).

    None if every value is missing. Tries what pyarrow tries, in its order: integer,
    boolean, date or timestamp (naive; a date when all at midnight, as
    `column_type` types a date-time column), timestamp with a zone offset, decimal number; anything
    else is text, which `string_kind` may still call a date. `known`, the type of
    the column so far, lets a number column skip the tries that cannot matter
    (failed casts are what inspection spends its time on).
    """
    values = column.drop_null()
    if len(values) == 0:
        return None, values
    if known == "number":
        numbers = _cast(values, pa.float64())
        return ("number", numbers) if numbers is not None else ("string", values)
    integers = _cast(values, pa.int64())
    if integers is not None:
        return "integer", pc.cast(integers, pa.float64())
    if bool(pc.all(pc.is_in(values, value_set=_CSV_BOOLEANS)).as_py()):
        return "boolean", pc.is_in(values, value_set=_CSV_TRUES)
    stamps = _cast(values, pa.timestamp("ns"))
    if stamps is not None:
        midnight = pc.all(pc.equal(stamps, pc.floor_temporal(stamps, unit="day"))).as_py()
        return ("date" if bool(midnight) else "datetime"), stamps
    zoned = _cast(values, pa.timestamp("ns", tz="UTC"))
    if zoned is not None:
        return "datetime", zoned
    numbers = _cast(values, pa.float64())
    if numbers is not None:
        return "number", numbers
    uniques: pd.Series[Any] = pc.unique(values).to_pandas()
    return string_kind(uniques), values


def _profile_texts(
    profiler: ColumnProfiler, column: pa.Array, kind: str | None, typed: pa.Array | None
) -> None:
    """A batch of a column's texts and, if the batch has a type `kind` (None: all missing),
    its present values read as that type (`typed`, from `_csv_text_type`), into its profile."""
    texts = column.drop_null()
    rows, missing = len(column), column.null_count
    if kind in ("integer", "number") and typed is not None:
        numbers = typed.to_numpy(zero_copy_only=False)
        profiler.add(rows, missing, texts=texts, numbers=numbers)
    elif kind in ("date", "datetime") and typed is not None:
        if pa.types.is_string(typed.type):  # ISO dates only `string_kind` recognised
            parsed = parse_iso_datetimes(pd.Series(typed.to_pandas()))
            instants = parsed.to_numpy(dtype="datetime64[ns]").view("int64")
        else:
            stamps = typed.cast(pa.timestamp("ns"))
            instants = stamps.to_numpy(zero_copy_only=False).view("int64")
        profiler.add(rows, missing, texts=texts, instants=instants)
    elif kind == "boolean" and typed is not None:
        profiler.add(rows, missing, texts=texts, flags=typed.to_numpy(zero_copy_only=False))
    else:
        profiler.add(rows, missing, texts=texts)


def _cast(values: pa.Array, target: pa.DataType) -> pa.Array | None:
    """The values cast to `target`; None if one of them does not convert."""
    try:
        return pc.cast(values, target)
    except pa.ArrowInvalid:
        return None
