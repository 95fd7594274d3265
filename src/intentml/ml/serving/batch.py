"""The column-wise batch checks (`BatchValidator`): each input's values are gathered
once, checked with set and numpy operations and converted into the feature matrix on
the way; only rows that look wrong are checked one by one, for the exact errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from itertools import compress, islice, repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from intentml.ml.serving.codec import (
    ABSENT,
    CLEAN_TYPES,
    NONE_TYPE,
    Absent,
    InputCodec,
    InputColumn,
    RowBatch,
    date_table,
    fill_dates,
)
from intentml.ml.serving.validation import (
    WARNING_ROWS_SHOWN,
    BatchReport,
    InputError,
    InputValidator,
    type_problem,
)

_NULL_TYPES = frozenset({NONE_TYPE, Absent})


_NUMERIC_KINDS = frozenset({"number", "integer", "boolean"})


class _ColumnSurvey:
    """What a first look at one input's values finds.

    `types`: the value types, nulls and absent values left out; `absent`: how many
    rows lack the input; `numeric`: the values as floats when they were converted on
    the way (`converted` says the conversion was tried and needs no retry, even if it
    overflowed); `distinct`: the set of values when it was made on the way.
    """

    __slots__ = ("absent", "converted", "distinct", "numeric", "types")

    def __init__(self) -> None:
        self.types: set[type] = set()
        self.absent = 0
        self.numeric: npt.NDArray[np.float64] | None = None
        self.converted = False
        self.distinct: set[Any] | None = None


def _survey(values: list[Any], kind: str, typed: bool) -> _ColumnSurvey:
    """Look once at an input's values (`typed`: known to be clean types or null)."""
    survey = _ColumnSurvey()
    if typed:
        # Only clean types and nulls got through the decoder. An absent value is found
        # by the conversion or set each column needs anyway: counting it in every
        # column costs as much as converting it.
        survey.types = set(CLEAN_TYPES[kind])
        if kind in _NUMERIC_KINDS:
            try:
                survey.numeric = np.array(values, dtype=np.float64)
                survey.converted = True
            except TypeError:  # `ABSENT` is the one value that does not convert
                survey.absent = values.count(ABSENT)
            except OverflowError:
                survey.converted = True
        else:
            survey.distinct = set(values)
            if ABSENT in survey.distinct:
                survey.absent = values.count(ABSENT)
    else:
        survey.types = set(map(type, values))
        survey.absent = values.count(ABSENT) if Absent in survey.types else 0
    survey.types -= _NULL_TYPES
    return survey


class _Scan:
    """The running result of `BatchValidator._scan_columns`: the rows that need a
    closer look, how many input values were present, and the matrix being filled
    (None once it cannot be)."""

    __slots__ = ("matrix", "present", "suspects")

    def __init__(self, matrix: npt.NDArray[np.float64] | None) -> None:
        self.suspects: set[int] = set()
        self.present = 0
        self.matrix = matrix


def _mark_missing_and_mistyped(
    scan: _Scan, column: InputColumn, values: list[Any], survey: _ColumnSurvey
) -> bool:
    """Mark the rows lacking a required input or holding a value of a wrong type as
    suspects; whether the column is clean (only clean types and nulls)."""
    if survey.absent and column.spec.required:
        scan.suspects.update(i for i, v in enumerate(values) if v is ABSENT)
    allowed = CLEAN_TYPES[column.spec.kind]
    if survey.types <= allowed:
        return True
    scan.matrix = None
    scan.suspects.update(
        i for i, v in enumerate(values) if type(v) not in allowed and type(v) not in _NULL_TYPES
    )
    return False


def _scan_numbers(
    scan: _Scan, column: InputColumn, values: list[Any], survey: _ColumnSurvey, clean: bool
) -> None:
    """Check a number, integer or boolean input's values and convert them into the matrix.

    Ints may be too large for a float; an integer's floats may have fractions.
    """
    kind, types = column.spec.kind, survey.types
    fractions = kind == "integer" and float in types
    check = fractions or (kind != "boolean" and int in types)
    numeric = survey.numeric
    if survey.converted:
        pass
    elif clean and (check or scan.matrix is not None):
        plain = [None if v is ABSENT else v for v in values] if survey.absent else values
        with contextlib.suppress(OverflowError):
            numeric = np.array(plain, dtype=np.float64)
    elif check:  # the ints and floats among other values
        numbers = [v if type(v) is int or type(v) is float else None for v in values]
        with contextlib.suppress(OverflowError):
            numeric = np.array(numbers, dtype=np.float64)
    if check:
        scan.suspects.update(_bad_numbers(values, numeric, kind, fractions))
    if scan.matrix is not None:
        if numeric is None:
            scan.matrix = None
        else:
            scan.matrix[:, column.offset] = numeric


def _distinct_strings(values: list[Any], survey: _ColumnSurvey, clean: bool) -> set[Any]:
    """The distinct strings among a category or date input's values."""
    if not clean:
        strings = {v for v in values if isinstance(v, str)}
    else:
        strings = survey.distinct if survey.distinct is not None else set(values)
    strings.discard(None)
    strings.discard(ABSENT)
    return strings


class BatchValidator:
    """Batch checks of a model's request rows, column by column, filling the feature
    matrix on the way; the single-row `InputValidator` judges the suspect rows."""

    __slots__ = ("_codec", "_validator")

    def __init__(self, validator: InputValidator, codec: InputCodec) -> None:
        self._validator = validator
        self._codec = codec

    def validate_rows(
        self, rows: Sequence[Any] | RowBatch, strict: bool = False
    ) -> tuple[list[InputError], list[str]]:
        """Check every row of a batch: (errors, warnings); see `LoadedModel.validate_rows`."""
        report = BatchReport()
        self._check_rows(rows, strict, report, None)
        return report.result()

    def validated_matrix(
        self, rows: Sequence[Any] | RowBatch, strict: bool
    ) -> tuple[list[InputError], list[str], npt.NDArray[np.float64] | None]:
        """Validate `rows` and build their feature matrix: (errors, warnings, matrix).

        The matrix is None when there are errors.
        """
        report = BatchReport()
        matrix = np.empty((len(rows), self._codec.width), dtype=np.float64)
        complete = self._check_rows(rows, strict, report, matrix)
        errors, warnings = report.result()
        if errors:
            return errors, warnings, None
        if not complete and len(rows):
            matrix = self._codec.feature_matrix(_dicts(rows))
        return errors, warnings, matrix

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
            if rows.codec is self._codec.rows:
                return self._scan_structs(rows, strict, report, matrix)
            rows = rows.dicts()
        columns = self._codec.columns
        if len(rows) and columns:
            try:
                # Fails at once unless every row is a dict.
                first = list(map(dict.get, rows, repeat(columns[0].spec.name), repeat(ABSENT)))
            except TypeError:
                pass
            else:
                return self._scan_rows(rows, first, strict, report, matrix)
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                error = InputError("", "expected a JSON object of input fields", "object")
                report.add_errors(index, [error])
                continue
            errors, notes = self._validator.row_issues(row, strict)
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
        checked one by one (by `InputValidator.row_issues`), for the exact errors. Returns whether
        `matrix` was filled.
        """
        n = len(rows)

        def column_of(position: int, name: str) -> list[Any]:
            if position == 0:
                return first
            return list(map(dict.get, rows, repeat(name), repeat(ABSENT)))

        suspects, present, matrix = self._scan_columns(n, column_of, False, strict, report, matrix)
        columns = len(self._codec.columns)
        total = sum(map(len, rows))
        if total != present:
            for key, code in self._validator.extra_keys:
                flags = list(map(dict.__contains__, rows, repeat(key)))
                count = flags.count(True)
                if count:
                    present += count
                    at = flags.index(True)
                    shown = list(islice(compress(range(n), flags), WARNING_ROWS_SHOWN))
                    rank = columns + list(rows[at]).index(key)
                    report.note(code, key, shown, [None], (at, rank), count)
        if total != present:
            allowed_keys = self._validator.allowed_keys
            suspects.update(i for i, row in enumerate(rows) if not row.keys() <= allowed_keys)
        for index in sorted(suspects):
            report.add_errors(index, self._validator.row_issues(rows[index], strict)[0])
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
        suspect, and those are checked as dicts by `InputValidator.row_issues`, as in `_scan_rows`.
        """
        rows, codec = batch.rows, self._codec.rows
        n = len(rows)
        getters = codec.getters

        def column_of(position: int, name: str) -> list[Any]:
            return list(map(getters[position], rows))

        suspects, _, matrix = self._scan_columns(n, column_of, True, strict, report, matrix)
        columns = len(self._codec.columns)
        seen: list[tuple[int, str, str, list[int], int]] = []
        for position, (key, code) in enumerate(self._validator.extra_keys, start=columns):
            column = list(map(getters[position], rows))
            count = n - column.count(ABSENT)
            if count:
                having = (i for i, v in enumerate(column) if v is not ABSENT)
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
            report.add_errors(
                index, self._validator.row_issues(codec.as_dict(rows[index]), strict)[0]
            )
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

        `column_of(position, name)` gives an input's values, `ABSENT` where a row
        lacks it; `typed` says they are already known to be of the input kind's clean
        types or null. Columns are checked with set and numpy operations; unseen
        categories (when not `strict`) are noted in `report`. Returns the rows that
        need a closer look, how many input values were present, and `matrix`, or None
        when it could not be filled.
        """
        scan = _Scan(matrix)
        for position, column in enumerate(self._codec.columns):
            values = column_of(position, column.spec.name)
            survey = _survey(values, column.spec.kind, typed)
            scan.present += n - survey.absent
            clean = _mark_missing_and_mistyped(scan, column, values, survey)
            if column.spec.kind in _NUMERIC_KINDS:
                _scan_numbers(scan, column, values, survey, clean)
            else:
                strings = _distinct_strings(values, survey, clean)
                self._scan_texts(scan, position, column, values, strings, strict, report)
        return scan.suspects, scan.present, scan.matrix

    def _scan_texts(
        self,
        scan: _Scan,
        position: int,
        column: InputColumn,
        values: list[Any],
        strings: set[Any],
        strict: bool,
        report: BatchReport,
    ) -> None:
        """Check a category or date input's values and convert them into the matrix.

        An unseen category is a warning (an error when `strict`); a malformed date
        makes its rows suspect.
        """
        name, kind = column.spec.name, column.spec.kind
        if kind == "category":
            odd = strings - self._validator.category_sets[name]
        else:
            table, lookup, odd = date_table(strings, kind)
        if odd:
            hits = [i for i, v in enumerate(values) if isinstance(v, str) and v in odd]
            if kind == "category" and not strict:
                report.note("unseen", name, hits, [values[i] for i in hits], (hits[0], position))
            else:
                scan.suspects.update(hits)
                scan.matrix = None
        if scan.matrix is None:
            return
        if kind == "category":
            self._codec.fill_codes(scan.matrix, column, values)
        else:
            fill_dates(scan.matrix, column, values, table, lookup)


def _dicts(rows: Sequence[Any] | RowBatch) -> Sequence[Any]:
    """`rows` as the dict path takes them."""
    if isinstance(rows, RowBatch):
        return rows.dicts()
    return rows


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
