"""The column-wise batch path: checking and converting batches column by column,
the feature matrix (`BatchMixin`), and decoding a batch body straight into a
model's row Struct (`RowBatch`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from itertools import compress, islice, repeat
from operator import attrgetter
from types import GenericAlias
from typing import Any, cast

import msgspec
import numpy as np
import numpy.typing as npt

from intentml.ml.serving.meta import (
    DATE_PARTS,
    DATETIME_PARTS,
    NAN,
    FeatureSpec,
    date_parts,
    datetime_features,
)
from intentml.ml.serving.validation import (
    WARNING_ROWS_SHOWN,
    BatchReport,
    InputError,
    ValidationMixin,
    type_problem,
)

#: The types a row Struct lets through for each input kind: the JSON types
#: `type_problem` accepts, as JSON decodes them (ints stay ints, so the dict path's
#: checks and messages apply to them unchanged).
_ROW_FIELD_TYPES: dict[str, Any] = {
    "number": int | float | None,
    "integer": int | float | None,
    "boolean": bool | None,
    "category": str | None,
    "date": str | None,
    "datetime": str | None,
}


class RowCodec:
    """A model's row Struct and its JSON decoder, made once per loaded model.

    One field per input, typed as `_ROW_FIELD_TYPES` says, and one per column the
    model ignores (any value); every field defaults to `_ABSENT`, so an absent field
    and a null stay apart, and unknown fields are refused. Attribute names are
    positional (`f0`, `f1`, ...): column names need not be identifiers.
    """

    def __init__(self, inputs: Sequence[FeatureSpec], extra_keys: Sequence[str]) -> None:
        self.names = [spec.name for spec in inputs] + list(extra_keys)
        types = [_ROW_FIELD_TYPES[spec.kind] for spec in inputs] + [Any] * len(extra_keys)
        fields = [
            (f"f{i}", kind, msgspec.field(default=_ABSENT, name=name))
            for i, (name, kind) in enumerate(zip(self.names, types, strict=True))
        ]
        # gc=False: decoded JSON holds no reference cycles, and untracked rows spare the
        # collector tens of thousands of objects per large batch.
        self.type: Any = msgspec.defstruct("Row", fields, forbid_unknown_fields=True, gc=False)
        self.decoder: msgspec.json.Decoder[list[Any]] = msgspec.json.Decoder(
            GenericAlias(list, (self.type,))
        )
        self.getters = [attrgetter(f"f{i}") for i in range(len(self.names))]

    def as_dict(self, row: Any) -> dict[str, Any]:
        """A decoded row as the dict plain JSON decoding gives (absent fields left out)."""
        values = (get(row) for get in self.getters)
        return {k: v for k, v in zip(self.names, values, strict=True) if v is not _ABSENT}


class RowBatch:
    """A batch body decoded into a model's row Struct by `LoadedModel.decode_batch`."""

    __slots__ = ("body", "codec", "rows")

    def __init__(self, rows: list[Any], body: bytes, codec: RowCodec) -> None:
        self.rows = rows
        self.body = body
        self.codec = codec

    def __len__(self) -> int:
        return len(self.rows)

    def keys_of(self, index: int) -> list[str]:
        """The keys of row `index` in the order the body gives them."""
        raw = msgspec.json.decode(self.body, type=list[msgspec.Raw])[index]
        return list(msgspec.json.decode(raw, type=dict[str, Any]))


class _Fallback(Exception):
    """The column-wise batch path does not apply; the row-by-row path takes over."""


class _Absent:
    """Marks a field absent from a row (as opposed to present with null)."""

    __slots__ = ()


_ABSENT = _Absent()


_NONE_TYPE = type(None)


_NULL_TYPES = frozenset({_NONE_TYPE, _Absent})


_NUMERIC_KINDS = frozenset({"number", "integer", "boolean"})


#: The value types of each input kind that the column-wise paths handle directly.
_CLEAN_TYPES: dict[str, frozenset[type]] = {
    "number": frozenset({float, int}),
    "integer": frozenset({float, int}),
    "boolean": frozenset({bool}),
    "category": frozenset({str}),
    "date": frozenset({str}),
    "datetime": frozenset({str}),
}


def _bad_numbers(
    column: list[Any], numeric: npt.NDArray[np.float64] | None, kind: str, fractions: bool
) -> list[int]:
    """Rows of a number or integer column with an int or float `type_problem` rejects:
    ints too large for a float and, for integers, floats that are not whole.

    `numeric` is the column as floats, if it could be converted (other value types
    are caught by their type); `fractions` says whether to look for non-whole floats.
    """
    if numeric is None:
        return [
            i for i, v in enumerate(column) if type(v) in (int, float) and type_problem(kind, v)
        ]
    if not fractions:
        return []
    whole = np.isnan(numeric) | (np.isfinite(numeric) & (np.floor(numeric) == numeric))
    return [i for i in np.flatnonzero(~whole).tolist() if type(column[i]) is float]


def _date_table(
    strings: set[Any], kind: str
) -> tuple[npt.NDArray[np.float64], dict[Any, int], set[Any]]:
    """The features of each distinct date or date-time string, each parsed once.

    Returns the table (one row per string, then an all-NaN row), each string's row
    in it (None and absent values map to the NaN row) and the strings that are not
    ISO 8601 dates, which `type_problem` rejects (their rows are NaN too).
    """
    expand: Callable[[Any], Sequence[float]] = date_parts if kind == "date" else datetime_features
    width = len(DATE_PARTS) if kind == "date" else len(DATETIME_PARTS)
    blank = (NAN,) * width
    values = list(strings)
    features: list[Sequence[float]] = []
    bad: set[Any] = set()
    for value in values:
        try:
            features.append(expand(value))
        except (ValueError, OverflowError):
            bad.add(value)
            features.append(blank)
    features.append(blank)
    table = np.array(features, dtype=np.float64).reshape(len(features), width)
    lookup = dict(zip(values, range(len(values)), strict=True))
    lookup[None] = lookup[_ABSENT] = len(values)
    return table, lookup, bad


class BatchMixin(ValidationMixin):
    """Batch checks and feature matrices of `LoadedModel` (attributes set by its `__init__`)."""

    _width: int
    _blank: list[float]
    _scalars: list[tuple[str, int, Callable[[Any], float]]]
    _dates: list[tuple[str, int, int, Callable[[Any], list[float]]]]
    _columns: list[tuple[FeatureSpec, int, int]]
    _codes: dict[str, dict[str, float]]
    _extra_keys: list[tuple[str, str]]
    _allowed_keys: frozenset[str]
    _codec: RowCodec

    def validate_rows(
        self, rows: Sequence[Any] | RowBatch, strict: bool = False
    ) -> tuple[list[InputError], list[str]]:
        """Check every row of a batch: (errors, warnings), as `validate` judges one row.

        Error fields are paths like `[3].usage_minutes` (a row that is not an object:
        `[3]`), in row order; at most `MAX_BATCH_ERRORS` are listed, then one entry
        with field `$` says how many more there were. Warnings that differ only in the
        row are reported once, naming the first rows and the count ("field
        'customer_id' is not used by the model and was ignored (rows [0], [1], [2], …
        10,000 rows)"); a warning of a single row reads as `validate` puts it.
        """
        report = BatchReport()
        self._check_rows(rows, strict, report, None)
        return report.result()

    def _validated_matrix(
        self, rows: Sequence[Any] | RowBatch, strict: bool
    ) -> tuple[list[InputError], list[str], npt.NDArray[np.float64] | None]:
        """Validate `rows` and build their feature matrix: (errors, warnings, matrix).

        The matrix is None when there are errors.
        """
        report = BatchReport()
        matrix = np.empty((len(rows), self._width), dtype=np.float64)
        complete = self._check_rows(rows, strict, report, matrix)
        errors, warnings = report.result()
        if errors:
            return errors, warnings, None
        if not complete and len(rows):
            matrix = self._predict_matrix(self._dicts(rows))
        return errors, warnings, matrix

    def decode_batch(self, body: bytes) -> RowBatch | None:
        """A JSON array of row objects decoded straight into this model's row Struct.

        About twice as fast as decoding dicts, and the decoder checks each value's JSON
        type on the way. Returns None for anything it refuses (malformed JSON, an
        element that is not an object, an unknown field, a value of the wrong type):
        decoded as plain JSON instead, such a body gets the exact errors of the dict
        path from `validate_and_predict_rows`.
        """
        if not self._columns:
            return None
        try:
            rows = self._codec.decoder.decode(body)
        except (msgspec.DecodeError, RecursionError):
            return None
        return RowBatch(rows, body, self._codec)

    def _dicts(self, rows: Sequence[Any] | RowBatch) -> Sequence[Any]:
        """`rows` as the dict path takes them."""
        if isinstance(rows, RowBatch):
            return [rows.codec.as_dict(row) for row in rows.rows]
        return rows

    def _check_rows(
        self,
        rows: Sequence[Any] | RowBatch,
        strict: bool,
        report: BatchReport,
        matrix: npt.NDArray[np.float64] | None,
    ) -> bool:
        """Validate `rows` into `report`, filling `matrix` (if given) on the way.

        Returns whether `matrix` was completely filled. Batches of this model's row
        Struct (`_scan_structs`) and of dicts (`_scan_rows`) go column by column;
        anything else row by row.
        """
        if isinstance(rows, RowBatch):
            if rows.codec is self._codec:
                return self._scan_structs(rows, strict, report, matrix)
            rows = self._dicts(rows)
        if len(rows) and self._columns:
            try:
                # Fails at once unless every row is a dict.
                first = list(map(dict.get, rows, repeat(self._columns[0][0].name), repeat(_ABSENT)))
            except TypeError:
                pass
            else:
                return self._scan_rows(rows, first, strict, report, matrix)
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                error = InputError("", "expected a JSON object of input fields", "object")
                report.add_errors(index, [error])
                continue
            errors, notes = self._row_issues(row, strict)
            report.add_errors(index, errors)
            for rank, (code, field, value) in enumerate(notes):
                report.note(code, field, [index], [value], (index, rank))
        return False

    def _scan_rows(
        self,
        rows: Sequence[dict[str, Any]],
        first: list[Any],
        strict: bool,
        report: BatchReport,
        matrix: npt.NDArray[np.float64] | None,
    ) -> bool:
        """`_check_rows` for a batch of dicts, column by column.

        Each input's values (`first` for the first input) are gathered into a list
        once and checked by `_scan_columns`; only the rows it finds suspect are
        checked one by one (by `_row_issues`), for the exact errors. Returns whether
        `matrix` was filled.
        """
        n = len(rows)

        def column_of(position: int, name: str) -> list[Any]:
            if position == 0:
                return first
            return list(map(dict.get, rows, repeat(name), repeat(_ABSENT)))

        suspects, present, matrix = self._scan_columns(n, column_of, False, strict, report, matrix)
        columns = len(self._columns)
        total = sum(map(len, rows))
        if total != present:
            for key, code in self._extra_keys:
                flags = list(map(dict.__contains__, rows, repeat(key)))
                count = flags.count(True)
                if count:
                    present += count
                    at = flags.index(True)
                    shown = list(islice(compress(range(n), flags), WARNING_ROWS_SHOWN))
                    rank = columns + list(rows[at]).index(key)
                    report.note(code, key, shown, [None], (at, rank), count)
        if total != present:
            allowed_keys = self._allowed_keys
            suspects.update(i for i, row in enumerate(rows) if not row.keys() <= allowed_keys)
        for index in sorted(suspects):
            report.add_errors(index, self._row_issues(rows[index], strict)[0])
        return matrix is not None and not suspects

    def _scan_structs(
        self,
        batch: RowBatch,
        strict: bool,
        report: BatchReport,
        matrix: npt.NDArray[np.float64] | None,
    ) -> bool:
        """`_check_rows` for a batch decoded into this model's row Struct.

        The decoder has already refused unknown fields and values of the wrong JSON
        type, so the columns are checked as clean ones; what is left (absent required
        fields, fractions in integers, unseen categories, malformed dates) makes rows
        suspect, and those are checked as dicts by `_row_issues`, as in `_scan_rows`.
        """
        rows, codec = batch.rows, self._codec
        n = len(rows)
        getters = codec.getters

        def column_of(position: int, name: str) -> list[Any]:
            return list(map(getters[position], rows))

        suspects, _, matrix = self._scan_columns(n, column_of, True, strict, report, matrix)
        columns = len(self._columns)
        seen: list[tuple[int, str, str, list[int], int]] = []
        for position, (key, code) in enumerate(self._extra_keys, start=columns):
            column = list(map(getters[position], rows))
            count = n - column.count(_ABSENT)
            if count:
                having = (i for i, v in enumerate(column) if v is not _ABSENT)
                shown = list(islice(having, WARNING_ROWS_SHOWN))
                seen.append((shown[0], key, code, shown, count))
        firsts = [at for at, *_ in seen]
        for at, key, code, shown, count in seen:
            # The dict path orders the warnings of keys first seen in the same row by
            # their order in that row, which a Struct does not keep: ask the body.
            rank = columns
            if firsts.count(at) > 1:
                rank += batch.keys_of(at).index(key)
            report.note(code, key, shown, [None], (at, rank), count)
        for index in sorted(suspects):
            report.add_errors(index, self._row_issues(codec.as_dict(rows[index]), strict)[0])
        return matrix is not None and not suspects

    def _scan_columns(
        self,
        n: int,
        column_of: Callable[[int, str], list[Any]],
        typed: bool,
        strict: bool,
        report: BatchReport,
        matrix: npt.NDArray[np.float64] | None,
    ) -> tuple[set[int], int, npt.NDArray[np.float64] | None]:
        """Check every input column of `n` rows, converting it into `matrix` on the way.

        `column_of(position, name)` gives an input's values, `_ABSENT` where a row
        lacks it; `typed` says they are already known to be of the input kind's clean
        types or null. Columns are checked with set and numpy operations; unseen
        categories (when not `strict`) are noted in `report`. Returns the rows that
        need a closer look, how many input values were present, and `matrix`, or None
        when it could not be filled.
        """
        suspects: set[int] = set()
        present = 0
        for position, (spec, offset, width) in enumerate(self._columns):
            name, kind = spec.name, spec.kind
            column = column_of(position, name)
            allowed = _CLEAN_TYPES[kind]
            numeric: npt.NDArray[np.float64] | None = None
            converted = False  # whether `numeric` holds the conversion of `column`
            distinct: set[Any] | None = None
            absent = 0
            if typed:
                # Only clean types and nulls got through the decoder. An absent value is
                # found by the conversion or set each column needs anyway: counting it in
                # every column costs as much as converting it.
                types = set(allowed)
                if kind in _NUMERIC_KINDS:
                    try:
                        numeric = np.array(column, dtype=np.float64)
                        converted = True
                    except TypeError:  # `_ABSENT` is the one value that does not convert
                        absent = column.count(_ABSENT)
                    except OverflowError:
                        converted = True
                else:
                    distinct = set(column)
                    if _ABSENT in distinct:
                        absent = column.count(_ABSENT)
            else:
                types = set(map(type, column))
                absent = column.count(_ABSENT) if _Absent in types else 0
            present += n - absent
            if absent and spec.required:
                suspects.update(i for i, v in enumerate(column) if v is _ABSENT)
            types -= _NULL_TYPES
            clean = types <= allowed
            if not clean:
                matrix = None
                suspects.update(
                    i
                    for i, v in enumerate(column)
                    if type(v) not in allowed and type(v) not in _NULL_TYPES
                )
            if kind in _NUMERIC_KINDS:
                # Ints may be too large for a float; an integer's floats may have fractions.
                fractions = kind == "integer" and float in types
                check = fractions or (kind != "boolean" and int in types)
                if converted:
                    pass
                elif clean and (check or matrix is not None):
                    values = [None if v is _ABSENT else v for v in column] if absent else column
                    with contextlib.suppress(OverflowError):
                        numeric = np.array(values, dtype=np.float64)
                elif check:  # the ints and floats among other values
                    values = [v if type(v) is int or type(v) is float else None for v in column]
                    with contextlib.suppress(OverflowError):
                        numeric = np.array(values, dtype=np.float64)
                if check:
                    suspects.update(_bad_numbers(column, numeric, kind, fractions))
                if matrix is not None:
                    if numeric is None:
                        matrix = None
                    else:
                        matrix[:, offset] = numeric
                continue
            if not clean:
                strings = {v for v in column if isinstance(v, str)}
            else:
                strings = distinct if distinct is not None else set(column)
            strings.discard(None)
            strings.discard(_ABSENT)
            if kind == "category":
                odd = strings - self._category_sets[name]
            else:
                table, lookup, odd = _date_table(strings, kind)
            if odd:
                hits = [i for i, v in enumerate(column) if isinstance(v, str) and v in odd]
                if kind == "category" and not strict:
                    report.note(
                        "unseen", name, hits, [column[i] for i in hits], (hits[0], position)
                    )
                else:
                    suspects.update(hits)
                    matrix = None
            if matrix is None:
                continue
            if kind == "category":
                codes: Callable[[Any, float], float] = self._codes[name].get
                matrix[:, offset] = np.fromiter(
                    map(codes, column, repeat(NAN)), dtype=np.float64, count=n
                )
            else:
                rows_of = np.fromiter(map(lookup.__getitem__, column), dtype=np.intp, count=n)
                matrix[:, offset : offset + width] = table[rows_of]
        return suspects, present, matrix

    def _predict_matrix(self, rows: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The feature matrix of rows that passed validation (`InvalidInput` if not)."""
        try:
            return self._column_matrix(rows)
        except _Fallback:
            return self._row_matrix(rows)

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The feature matrix LightGBM sees for `rows` (for checks and debugging)."""
        if rows:
            try:
                return self._column_matrix(rows)
            except _Fallback:
                pass
        return np.array([self._vector(r) for r in rows], dtype=np.float64).reshape(
            len(rows), self._width
        )

    def _vector(self, row: Mapping[str, Any]) -> list[float]:
        vector = self._blank.copy()
        get = row.get
        for name, offset, convert in self._scalars:
            value = get(name)
            if value is not None:
                vector[offset] = convert(value)
        for name, offset, width, expand in self._dates:
            value = get(name)
            if value is not None:
                vector[offset : offset + width] = expand(value)
        return vector

    def _row_matrix(self, rows: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The matrix row by row; raises `InvalidInput` at the first bad row."""
        vectors: list[list[float]] = []
        for index, row in enumerate(rows):
            try:
                vectors.append(self._vector(row))
            except (TypeError, ValueError, AttributeError, OverflowError) as exc:
                raise self._invalid(row, f"[{index}]") from exc
        return np.array(vectors, dtype=np.float64)

    def _column_matrix(self, rows: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The matrix column by column, for plain dict rows with plain JSON values.

        Raises `_Fallback` for anything else (other mappings, numpy scalars, date
        objects, values that do not convert), which `_row_matrix` then handles or
        reports exactly as before.
        """
        dicts = cast("Sequence[dict[str, Any]]", rows)
        n = len(dicts)
        matrix = np.empty((n, self._width), dtype=np.float64)
        try:
            for spec, offset, width in self._columns:
                # A TypeError here at once unless every row is a dict.
                column: list[Any] = list(map(dict.get, dicts, repeat(spec.name)))
                types = set(map(type, column))
                types.discard(_NONE_TYPE)
                kind = spec.kind
                if not types <= _CLEAN_TYPES[kind]:
                    raise _Fallback
                if kind == "category":
                    codes: Callable[[Any, float], float] = self._codes[spec.name].get
                    matrix[:, offset] = np.fromiter(
                        map(codes, column, repeat(NAN)), dtype=np.float64, count=n
                    )
                elif kind in ("date", "datetime"):
                    strings = set(column)
                    strings.discard(None)
                    table, index, bad = _date_table(strings, kind)
                    if bad:
                        raise _Fallback
                    at = np.fromiter(map(index.__getitem__, column), dtype=np.intp, count=n)
                    matrix[:, offset : offset + width] = table[at]
                else:
                    # Only floats, ints, booleans (for boolean inputs) and None (→ NaN).
                    matrix[:, offset] = np.array(column, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _Fallback from exc
        return matrix
