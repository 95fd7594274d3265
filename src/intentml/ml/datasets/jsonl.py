"""JSON Lines: read whole by pyarrow (re-read as one block for an error's line number),
or streamed in chunks of whole lines for inspection (each chunk typed through its
pandas conversion, as the full read types the file).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pa_json

from intentml.ml.datasets import base
from intentml.ml.datasets.base import DatasetError
from intentml.ml.datasets.column_types import ColumnTypes
from intentml.ml.datasets.tables import check_names, first_batches

# When re-reading a JSON Lines file to find the line of an error, the whole file has
# to fit in one block (pyarrow numbers rows per block); beyond this size we give up
# on the line number rather than hold a huge block in memory.
_JSON_SINGLE_BLOCK_MAX = 256 * 1024 * 1024

_JSON_ROW_ERROR = re.compile(r"^(?:JSON parse error: )?(.*?)\.? in row (\d+)$", re.S)


class JsonLinesFormat:
    """JSON Lines: one JSON object per line."""

    label = "JSON Lines"

    def read(self, path: Path, size: int, max_rows: int | None) -> pa.Table:
        """The file as one table (with `max_rows`, its first blocks)."""
        try:
            if max_rows is None:
                return pa_json.read_json(path)
            with pa_json.open_json(path) as reader:
                return first_batches(reader, reader.schema, max_rows)
        except pa.ArrowInvalid as exc:
            raise DatasetError(_json_error_message(path, str(exc), size)) from exc
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(f"could not read the JSON Lines file: {exc}") from exc

    def scan(self, path: Path, size: int) -> ColumnTypes:
        """Stream the file chunk by chunk of whole lines, typing each chunk's columns."""
        types = ColumnTypes()
        for first_line, chunk in _jsonl_chunks(path):
            try:
                # One block per chunk: pyarrow then numbers rows from the chunk's start.
                options = pa_json.ReadOptions(use_threads=False, block_size=len(chunk) + 1)
                table = pa_json.read_json(io.BytesIO(chunk), read_options=options)
            except pa.ArrowInvalid as exc:
                raise DatasetError(_jsonl_chunk_error(str(exc), first_line)) from exc
            except pa.ArrowException as exc:
                raise DatasetError(f"could not read the JSON Lines file: {exc}") from exc
            types.rows += table.num_rows
            types.expected_columns = types.expected_columns or table.num_columns
            for batch in table.to_batches():
                types.add_frame_types(batch)
        if types.rows == 0 and not types.names:
            raise DatasetError("the file contains no JSON objects")
        check_names(types.names, self.label)
        return types


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


def _jsonl_chunks(path: Path) -> Iterator[tuple[int, bytes]]:
    """Whole lines of the file, about `base.INSPECT_BLOCK_BYTES` at a time, with the first's number.

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
                if size >= base.INSPECT_BLOCK_BYTES:
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
