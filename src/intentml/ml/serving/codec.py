"""The input codec: request rows into the float64 feature matrix LightGBM sees.

`InputCodec` holds, per loaded model, one converter per input (built once at load
time) and turns a row into a vector, or many rows into a matrix column by column
(falling back to row by row for anything unusual). `RowCodec` decodes a JSON batch
straight into the model's own row Struct (`RowBatch`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
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
    date_features,
    date_parts,
    datetime_features,
    expanded_columns,
)
from intentml.ml.serving.validation import InvalidInput


class Absent:
    """Marks a field absent from a row (as opposed to present with null)."""

    __slots__ = ()


ABSENT = Absent()


NONE_TYPE = type(None)


#: The value types of each input kind that the column-wise paths handle directly.
CLEAN_TYPES: dict[str, frozenset[type]] = {
    "number": frozenset({float, int}),
    "integer": frozenset({float, int}),
    "boolean": frozenset({bool}),
    "category": frozenset({str}),
    "date": frozenset({str}),
    "datetime": frozenset({str}),
}


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
    model ignores (any value); every field defaults to `ABSENT`, so an absent field
    and a null stay apart, and unknown fields are refused. Attribute names are
    positional (`f0`, `f1`, ...): column names need not be identifiers.
    """

    def __init__(self, inputs: Sequence[FeatureSpec], extra_keys: Sequence[str]) -> None:
        self.names = [spec.name for spec in inputs] + list(extra_keys)
        types = [_ROW_FIELD_TYPES[spec.kind] for spec in inputs] + [Any] * len(extra_keys)
        fields = [
            (f"f{i}", kind, msgspec.field(default=ABSENT, name=name))
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
        return {k: v for k, v in zip(self.names, values, strict=True) if v is not ABSENT}


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

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as the dict path takes them."""
        return [self.codec.as_dict(row) for row in self.rows]


class _Fallback(Exception):
    """The column-wise path does not apply; the row-by-row path takes over."""


class InputColumn(msgspec.Struct, frozen=True, gc=False):
    """One input and the matrix columns it fills (`offset` and `width` of them)."""

    spec: FeatureSpec
    offset: int
    width: int


def _number(value: Any) -> float:
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("not a number")
    return float(value)


def _boolean(value: Any) -> float:
    if value is True:
        return 1.0
    if value is False:
        return 0.0
    if isinstance(value, np.bool_):
        return 1.0 if value else 0.0
    raise TypeError("not a boolean")


def _category_converter(codes: dict[str, float]) -> Callable[[Any], float]:
    lookup = codes.get

    def convert(value: Any) -> float:
        if type(value) is str:
            return lookup(value, NAN)
        raise TypeError("not a string")

    return convert


def date_table(
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
    lookup[None] = lookup[ABSENT] = len(values)
    return table, lookup, bad


class InputCodec:
    """A model's request rows as feature vectors and matrices.

    `explain_failure(row, path_prefix)` makes the `InvalidInput` of a row that does
    not convert (the validator's errors for it).
    """

    __slots__ = (
        "_blank",
        "_dates",
        "_scalars",
        "codes",
        "columns",
        "explain_failure",
        "rows",
        "width",
    )

    def __init__(
        self,
        inputs: Sequence[FeatureSpec],
        extra_keys: Sequence[str],
        explain_failure: Callable[[Any, str], InvalidInput],
    ) -> None:
        self._scalars: list[tuple[str, int, Callable[[Any], float]]] = []
        self._dates: list[tuple[str, int, int, Callable[[Any], list[float]]]] = []
        #: Every input with its matrix offset and width, for the column-wise paths.
        self.columns: list[InputColumn] = []
        #: The code of each category seen in training, per category input.
        self.codes: dict[str, dict[str, float]] = {}
        offset = 0
        for spec in inputs:
            width = len(expanded_columns(spec))
            if spec.kind in ("number", "integer"):
                self._scalars.append((spec.name, offset, _number))
            elif spec.kind == "boolean":
                self._scalars.append((spec.name, offset, _boolean))
            elif spec.kind == "category":
                codes = {value: float(code) for code, value in enumerate(spec.categories)}
                self.codes[spec.name] = codes
                self._scalars.append((spec.name, offset, _category_converter(codes)))
            elif spec.kind == "date":
                self._dates.append((spec.name, offset, width, date_features))
            elif spec.kind == "datetime":
                self._dates.append((spec.name, offset, width, datetime_features))
            else:
                raise ValueError(f"input '{spec.name}' has unknown kind '{spec.kind}'")
            self.columns.append(InputColumn(spec, offset, width))
            offset += width
        self.width = offset
        self._blank = [NAN] * self.width
        #: The decoder of JSON batches into this model's row Struct.
        self.rows = RowCodec(inputs, extra_keys)
        self.explain_failure = explain_failure

    def vector(self, row: Mapping[str, Any]) -> list[float]:
        """One row's features (TypeError, ValueError, ... if a value does not convert)."""
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

    def checked_vector(self, row: Mapping[str, Any]) -> list[float]:
        """`vector`, raising `InvalidInput` for a row that does not convert."""
        try:
            return self.vector(row)
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise self.explain_failure(row, "") from exc

    def feature_matrix(self, rows: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
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
        return np.array([self.vector(r) for r in rows], dtype=np.float64).reshape(
            len(rows), self.width
        )

    def decode_batch(self, body: bytes) -> RowBatch | None:
        """A JSON array of row objects decoded into the row Struct, or None if refused."""
        if not self.columns:
            return None
        try:
            rows = self.rows.decoder.decode(body)
        except (msgspec.DecodeError, RecursionError):
            return None
        return RowBatch(rows, body, self.rows)

    def _row_matrix(self, rows: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The matrix row by row; raises `InvalidInput` at the first bad row."""
        vectors: list[list[float]] = []
        for index, row in enumerate(rows):
            try:
                vectors.append(self.vector(row))
            except (TypeError, ValueError, AttributeError, OverflowError) as exc:
                raise self.explain_failure(row, f"[{index}]") from exc
        return np.array(vectors, dtype=np.float64)

    def _column_matrix(self, rows: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The matrix column by column, for plain dict rows with plain JSON values.

        Raises `_Fallback` for anything else (other mappings, numpy scalars, date
        objects, values that do not convert), which `_row_matrix` then handles or
        reports exactly as before.
        """
        dicts = cast("Sequence[dict[str, Any]]", rows)
        n = len(dicts)
        matrix = np.empty((n, self.width), dtype=np.float64)
        try:
            for column in self.columns:
                # A TypeError here at once unless every row is a dict.
                values: list[Any] = list(map(dict.get, dicts, repeat(column.spec.name)))
                types = set(map(type, values))
                types.discard(NONE_TYPE)
                if not types <= CLEAN_TYPES[column.spec.kind]:
                    raise _Fallback
                self._fill(matrix, column, values)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _Fallback from exc
        return matrix

    def _fill(
        self, matrix: npt.NDArray[np.float64], column: InputColumn, values: list[Any]
    ) -> None:
        """Convert one input's clean values (and None) into its matrix columns."""
        kind = column.spec.kind
        if kind == "category":
            self.fill_codes(matrix, column, values)
        elif kind in ("date", "datetime"):
            strings = set(values)
            strings.discard(None)
            table, lookup, bad = date_table(strings, kind)
            if bad:
                raise _Fallback
            fill_dates(matrix, column, values, table, lookup)
        else:
            # Only floats, ints, booleans (for boolean inputs) and None (→ NaN).
            matrix[:, column.offset] = np.array(values, dtype=np.float64)

    def fill_codes(
        self, matrix: npt.NDArray[np.float64], column: InputColumn, values: list[Any]
    ) -> None:
        """A category input's codes into its matrix column (NaN for anything unseen)."""
        codes: Callable[[Any, float], float] = self.codes[column.spec.name].get
        matrix[:, column.offset] = np.fromiter(
            map(codes, values, repeat(NAN)), dtype=np.float64, count=len(values)
        )


def fill_dates(
    matrix: npt.NDArray[np.float64],
    column: InputColumn,
    values: list[Any],
    table: npt.NDArray[np.float64],
    lookup: dict[Any, int],
) -> None:
    """A date input's features into its matrix columns, from its `date_table`."""
    rows_of = np.fromiter(map(lookup.__getitem__, values), dtype=np.intp, count=len(values))
    matrix[:, column.offset : column.offset + column.width] = table[rows_of]
