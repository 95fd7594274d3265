"""Checking request rows: `InputError`, `InvalidInput`, the per-value type checks,
the warning texts, the batch error/warning report, and `InputValidator` (the
single-row checks, one of the parts of `LoadedModel`).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping
from datetime import date
from typing import Any

import msgspec
import numpy as np

from intentml.ml.serving.meta import FeatureSpec, ModelMeta, parse_when

_EXPECTED = {
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "category": "string",
    "date": "date (YYYY-MM-DD)",
    "datetime": "date-time (ISO 8601, e.g. 2024-05-01T13:45:00Z)",
}


_JSON_TYPES = {
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "category": "string",
    "date": "string",
    "datetime": "string",
}


class InputError(msgspec.Struct, frozen=True):
    """A problem with one field of a prediction request."""

    field: str
    message: str
    expected: str


class InvalidInput(ValueError):
    """A row given to `predict_*` has a value that cannot be converted."""

    def __init__(self, errors: list[InputError]) -> None:
        first = errors[0] if errors else InputError("", "invalid input", "")
        super().__init__(f"{first.field}: {first.message}")
        self.errors = errors


#: At most this many errors are listed for a batch; one more entry says how many were left out.
MAX_BATCH_ERRORS = 1000


#: A batch warning shared by many rows names this many of them, then the count.
WARNING_ROWS_SHOWN = 3


#: An unseen-category warning shared by many rows quotes this many of the values.
_WARNING_VALUES_SHOWN = 5


#: A strict-mode unseen-category error lists this many of the known values.
_KNOWN_VALUES_SHOWN = 10


class _Note:
    """One batch warning: the rows it applies to (the first few and the count)."""

    __slots__ = ("count", "order", "rows", "values")

    def __init__(self, order: tuple[int, int]) -> None:
        self.order = order
        self.rows: list[int] = []
        self.count = 0
        self.values: dict[Any, None] = {}


class BatchReport:
    """Collects a batch's errors (capped) and warnings (grouped across rows)."""

    def __init__(self) -> None:
        self.errors: list[InputError] = []
        self.error_count = 0
        self.notes: dict[tuple[str, str], _Note] = {}

    def add_errors(self, index: int, errors: list[InputError]) -> None:
        for error in errors:
            self.error_count += 1
            if len(self.errors) < MAX_BATCH_ERRORS:
                path = f"[{index}].{error.field}" if error.field else f"[{index}]"
                self.errors.append(InputError(path, error.message, error.expected))

    def note(
        self,
        code: str,
        field: str,
        rows: list[int],
        values: list[Any],
        order: tuple[int, int],
        count: int | None = None,
    ) -> None:
        """Record a warning of `rows` (the first ones if `count` says there are more)."""
        note = self.notes.get((code, field))
        if note is None:
            note = self.notes[code, field] = _Note(order)
        note.rows.extend(rows[: WARNING_ROWS_SHOWN - len(note.rows)])
        note.count += len(rows) if count is None else count
        note.values.update(dict.fromkeys(values))

    def result(self) -> tuple[list[InputError], list[str]]:
        errors = self.errors
        if self.error_count > len(errors):
            left_out = self.error_count - len(errors)
            errors.append(
                InputError(
                    "$",
                    f"and {left_out:,} more errors ({self.error_count:,} in all); only the "
                    f"first {MAX_BATCH_ERRORS:,} are listed",
                    "",
                )
            )
        ordered = sorted(self.notes.items(), key=lambda item: item[1].order)
        return errors, [_batch_note_text(code, field, note) for (code, field), note in ordered]


def _note_text(code: str, field: str, value: Any) -> str:
    """A warning of one row; `field` includes the row's path prefix."""
    if code == "unseen":
        return (
            f"field '{field}' has the value {_short(value)}, which was not seen in training; "
            "it is treated as missing"
        )
    if code == "ignored":
        return f"field '{field}' is not used by the model and was ignored"
    return f"field '{field}' is what the model predicts; the given value was ignored"


def _batch_note_text(code: str, field: str, note: _Note) -> str:
    values = list(note.values)
    if note.count == 1:
        return _note_text(code, f"[{note.rows[0]}].{field}", values[0])
    if code == "unseen" and len(values) > 1:
        shown = ", ".join(_short(v) for v in values[:_WARNING_VALUES_SHOWN])
        if len(values) > _WARNING_VALUES_SHOWN:
            shown += f", … {len(values):,} values"
        text = (
            f"field '{field}' has values not seen in training ({shown}); "
            "they are treated as missing"
        )
    else:
        text = _note_text(code, field, values[0])
    where = ", ".join(f"[{i}]" for i in note.rows)
    if note.count > len(note.rows):
        where += f", … {note.count:,} rows"
    return f"{text} (rows {where})"


def extra_keys(meta: ModelMeta) -> list[tuple[str, str]]:
    """The keys a row may carry besides the inputs, in check order, with their warning
    code: the columns the model ignores ("ignored"), then its target ("target")."""
    inputs = {spec.name for spec in meta.inputs}
    keys = [(name, "ignored") for name in dict.fromkeys(meta.ignored_columns)]
    if meta.target not in frozenset(meta.ignored_columns):
        keys.append((meta.target, "target"))
    return [(key, code) for key, code in keys if key not in inputs]


def known_values(categories: list[str]) -> str:
    """The first categories seen in training, as an error message lists them."""
    shown = ", ".join(categories[:_KNOWN_VALUES_SHOWN])
    if len(categories) > _KNOWN_VALUES_SHOWN:
        shown += f", … ({len(categories):,} in all)"
    return shown


def type_problem(kind: str, value: Any) -> str | None:
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"expected a number, got {_describe(value)}"
        return _too_large(value)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"expected an integer, got {_describe(value)}"
        if isinstance(value, float) and not (value.is_integer() or math.isnan(value)):
            return f"expected an integer, got {value!r}"
        return _too_large(value)
    if kind == "boolean":
        if not isinstance(value, bool | np.bool_):
            return f"expected true or false, got {_describe(value)}"
        return None
    if kind == "category":
        if not isinstance(value, str):
            return f"expected a string, got {_describe(value)}"
        return None
    if kind in ("date", "datetime"):
        if isinstance(value, date):
            return None
        if not isinstance(value, str):
            return f"expected an ISO 8601 string, got {_describe(value)}"
        try:
            parse_when(value)
        except (ValueError, OverflowError):
            example = "2024-05-01" if kind == "date" else "2024-05-01T13:45:00Z"
            return (
                f"expected an ISO 8601 {kind.replace('datetime', 'date-time')} like "
                f"{example}, got {_short(value)}"
            )
        return None
    return f"unsupported input kind '{kind}'"


def _too_large(value: Any) -> str | None:
    try:
        float(value)
    except OverflowError:
        return "expected a number, got a number too large for a 64-bit float"
    return None


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {_short(value)}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, numbers.Number):
        return f"the number {value!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a value of type {type(value).__name__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


class InputValidator:
    """The single-row checks of a model's request rows, and the rules they follow.

    Built once per loaded model from its `ModelMeta`: the inputs by name, the
    categories seen in training, and the keys a row may carry besides the inputs
    (columns the model ignores, the target), which are warnings, not errors.
    """

    __slots__ = (
        "_ignored",
        "_inputs",
        "_known_values",
        "allowed_keys",
        "category_sets",
        "extra_keys",
        "meta",
    )

    def __init__(self, meta: ModelMeta) -> None:
        self.meta = meta
        self._inputs = {spec.name: spec for spec in meta.inputs}
        self._ignored = frozenset(meta.ignored_columns)
        #: The categories seen in training, per category input.
        self.category_sets = {
            spec.name: frozenset(spec.categories) for spec in meta.inputs if spec.kind == "category"
        }
        self._known_values = {
            spec.name: known_values(spec.categories)
            for spec in meta.inputs
            if spec.kind == "category"
        }
        #: Keys a row may carry besides the inputs (warnings, not errors), in check order,
        #: with their warning code ("ignored" or "target").
        self.extra_keys = extra_keys(meta)
        #: Every key a row may carry.
        self.allowed_keys = frozenset(self._inputs) | {k for k, _ in self.extra_keys}

    def validate(
        self, row: Mapping[str, Any], path_prefix: str = "", strict: bool = False
    ) -> tuple[list[InputError], list[str]]:
        """Check one request row: (errors, warnings); see `LoadedModel.validate`."""
        if not isinstance(row, Mapping):
            where = path_prefix or "$"
            return [InputError(where, "expected a JSON object of input fields", "object")], []
        prefix = path_prefix if not path_prefix or path_prefix.endswith(".") else path_prefix + "."
        errors, notes = self.row_issues(row, strict)
        if prefix:
            errors = [InputError(prefix + e.field, e.message, e.expected) for e in errors]
        return errors, [_note_text(code, prefix + field, value) for code, field, value in notes]

    def row_issues(
        self, row: Mapping[str, Any], strict: bool
    ) -> tuple[list[InputError], list[tuple[str, str, Any]]]:
        """Errors (fields without a prefix) and warnings as (code, field, value)."""
        errors: list[InputError] = []
        notes: list[tuple[str, str, Any]] = []
        for spec in self.meta.inputs:
            if spec.name not in row:
                if spec.required:
                    errors.append(
                        InputError(spec.name, "missing required field", _EXPECTED[spec.kind])
                    )
                continue
            value = row[spec.name]
            if value is None:
                continue
            problem = type_problem(spec.kind, value)
            if problem is not None:
                errors.append(InputError(spec.name, problem, _EXPECTED[spec.kind]))
            elif spec.kind == "category" and value not in self.category_sets[spec.name]:
                if strict:
                    known = self._known_values[spec.name]
                    errors.append(
                        InputError(
                            spec.name,
                            f"the value {_short(value)} was not seen in training; "
                            f"known values: {known}",
                            f"one of: {known}",
                        )
                    )
                else:
                    notes.append(("unseen", spec.name, value))
        for key in row:
            if key in self._inputs:
                continue
            if key in self._ignored:
                notes.append(("ignored", key, None))
            elif key == self.meta.target:
                notes.append(("target", key, None))
            else:
                errors.append(
                    InputError(str(key), self._unknown_message(str(key)), "no such field")
                )
        return errors, notes

    def _unknown_message(self, key: str) -> str:
        names = list(self._inputs)
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.7)
        if not close:
            lowered = {n.lower(): n for n in names}
            if key.lower() in lowered:
                close = [lowered[key.lower()]]
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        shown = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
        return f"unknown field{hint}; the model's inputs are: {shown}"

    def invalid(self, row: Any, prefix: str) -> InvalidInput:
        """The `InvalidInput` of a row that could not be converted, with `validate`'s errors."""
        errors, _ = self.validate(row, prefix)
        if not errors:
            errors = [InputError(prefix or "$", "the row could not be converted", "object")]
        return InvalidInput(errors)


def input_schema(meta: ModelMeta) -> dict[str, Any]:
    """JSON Schema of one request row of a model (see `LoadedModel.input_schema`)."""
    properties: dict[str, Any] = {}
    for spec in meta.inputs:
        prop: dict[str, Any] = {"type": [_JSON_TYPES[spec.kind], "null"]}
        if spec.kind == "date":
            prop["format"] = "date"
        elif spec.kind == "datetime":
            prop["format"] = "date-time"
        elif spec.kind == "category" and spec.categories:
            prop["examples"] = spec.categories[:10]
        properties[spec.name] = prop
    for name in meta.ignored_columns:
        properties.setdefault(name, {"description": "not used by the model; ignored"})
    properties.setdefault(
        meta.target, {"description": "the value the model predicts; ignored as input"}
    )
    return {
        "type": "object",
        "properties": properties,
        "required": [s.name for s in meta.inputs if s.required],
        "additionalProperties": False,
    }


def sample_input(meta: ModelMeta) -> dict[str, Any]:
    """A typical valid request row: the training medians and most frequent values, and a
    placeholder of the input's kind for an input the artifact has no sample of."""
    sample = dict(meta.sample_input)
    for spec in meta.inputs:
        if spec.name not in sample:
            sample[spec.name] = _placeholder(spec)
    return {spec.name: sample[spec.name] for spec in meta.inputs}


def _placeholder(spec: FeatureSpec) -> Any:
    if spec.kind == "category":
        return spec.categories[0] if spec.categories else None
    return {
        "number": 0.0,
        "integer": 0,
        "boolean": False,
        "date": "2000-01-01",
        "datetime": "2000-01-01T00:00:00Z",
    }.get(spec.kind)
