"""Loading a trained artifact and answering predictions: the inference hot path.

An artifact directory holds `model.txt` (the LightGBM booster) and `meta.json`
(`ModelMeta`: the inputs, category codes, classes and output fields). Requests are
plain mappings decoded from JSON; they are turned into a float64 matrix by
per-field converters built once at load time, so serving needs neither pandas nor
any per-request schema work.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import msgspec
import numpy as np
import numpy.typing as npt

from intentml.ml.target import name_key

#: Bumped when the artifact layout changes incompatibly.
FORMAT_VERSION = 1

MODEL_FILE = "model.txt"
META_FILE = "meta.json"

INPUT_KINDS = ("number", "integer", "boolean", "category", "date", "datetime")

#: The numeric features a date expands to, in matrix order. `dayofweek` is 0 for Monday.
DATE_PARTS = ("year", "month", "day", "dayofweek", "epoch_days")
#: A date-time also keeps its hour (UTC).
DATETIME_PARTS = (*DATE_PARTS, "hour")

RISK_LEVELS = ("low", "medium", "high")

_NAN = math.nan
_EPOCH = datetime(1970, 1, 1)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

_PROBABILITY_SUFFIXES = (
    "_probability",
    "_prob",
    "_proba",
    "_score",
    "_likelihood",
    "_chance",
    "_propensity",
)
_PROBABILITY_NAMES = frozenset({"probability", "prob", "score", "likelihood", "propensity"})
_LABEL_SUFFIXES = (
    "_label",
    "_class",
    "_prediction",
    "_predicted",
    "_pred",
    "_category",
    "_value",
    "_estimate",
    "_forecast",
)
_RISK_NAMES = frozenset({"risk_level", "risk_band", "risk_tier", "risk_category", "risk_bucket"})

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
_LABEL_JSON_TYPES = {"boolean": "boolean", "integer": "integer", "number": "number"}


class FeatureSpec(msgspec.Struct, frozen=True):
    """One raw input field of a model.

    For `kind == "category"`, `categories` lists the values seen in training in code
    order (a value's index is the code LightGBM was trained on). A field that had
    missing values in training is not `required`: leaving it out means "unknown".
    """

    name: str
    kind: str
    categories: list[str] = msgspec.field(default_factory=list)
    required: bool = True


class ModelMeta(msgspec.Struct, frozen=True, kw_only=True):
    """Everything besides the booster that serving needs, stored as `meta.json`."""

    format_version: int = FORMAT_VERSION
    task: str
    target: str
    #: The user-facing type of the target column, so labels come back typed.
    target_type: str = "string"
    #: Class labels as strings, in code order (classifiers only).
    classes: list[str] = msgspec.field(default_factory=list)
    positive_class: str | None = None
    inputs: list[FeatureSpec] = msgspec.field(default_factory=list)
    ignored_columns: list[str] = msgspec.field(default_factory=list)
    output_fields: list[str] = msgspec.field(default_factory=list)
    metric_name: str = ""
    metric_value: float = 0.0
    metrics: dict[str, float] = msgspec.field(default_factory=dict)
    #: Names of the matrix columns the booster sees, derived from `inputs`.
    matrix_columns: list[str] = msgspec.field(default_factory=list)
    best_iteration: int = 0
    decision_threshold: float = 0.5
    risk_thresholds: list[float] = msgspec.field(default_factory=lambda: [0.33, 0.66])
    rows_used: int = 0
    intent: str = ""
    lightgbm_version: str = ""
    #: A typical valid request row (medians, most frequent values), for smoke tests
    #: and documentation.
    sample_input: dict[str, Any] = msgspec.field(default_factory=dict)


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


def expanded_columns(spec: FeatureSpec) -> list[str]:
    """The matrix column names one input expands to (dates expand to several)."""
    if spec.kind == "date":
        return [f"{spec.name}.{part}" for part in DATE_PARTS]
    if spec.kind == "datetime":
        return [f"{spec.name}.{part}" for part in DATETIME_PARTS]
    return [spec.name]


def matrix_layout(inputs: Sequence[FeatureSpec]) -> tuple[list[str], list[int]]:
    """All matrix column names, and the positions of the categorical ones."""
    names: list[str] = []
    categorical: list[int] = []
    for spec in inputs:
        if spec.kind == "category":
            categorical.append(len(names))
        names.extend(expanded_columns(spec))
    return names, categorical


def parse_when(value: Any) -> datetime:
    """An ISO 8601 date or date-time (or a date/datetime object) as naive UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
    else:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def date_features(value: Any) -> list[float]:
    """year, month, day, dayofweek, epoch_days of a date (a date-time's UTC date)."""
    day = parse_when(value).date()
    return [
        float(day.year),
        float(day.month),
        float(day.day),
        float(day.weekday()),
        float(day.toordinal() - _EPOCH_ORDINAL),
    ]


def datetime_features(value: Any) -> list[float]:
    """The date features of a UTC date-time (epoch_days with the time of day) and its hour."""
    moment = parse_when(value)
    delta = moment - _EPOCH
    # Whole seconds, as training truncates datetime64 to seconds.
    seconds = delta.days * 86400 + delta.seconds
    return [
        float(moment.year),
        float(moment.month),
        float(moment.day),
        float(moment.weekday()),
        seconds / 86400.0,
        float(moment.hour),
    ]


def typed_label(label: str, target_type: str) -> Any:
    """A class label back in the target column's own type ("1" → 1, "true" → True)."""
    try:
        if target_type == "boolean":
            return label == "true"
        if target_type == "integer":
            return int(label)
        if target_type == "number":
            return float(label)
    except ValueError:
        pass
    return label


# ------------------------------------------------------------------- converters


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


def _category_converter(categories: list[str]) -> Callable[[Any], float]:
    codes = {value: float(code) for code, value in enumerate(categories)}
    lookup = codes.get

    def convert(value: Any) -> float:
        if type(value) is str:
            return lookup(value, _NAN)
        raise TypeError("not a string")

    return convert


# ------------------------------------------------------------------------ model


class LoadedModel:
    """A trained model ready to validate requests and predict."""

    def __init__(self, meta: ModelMeta, booster: lgb.Booster) -> None:
        self.meta = meta
        self.booster = booster
        columns, _ = matrix_layout(meta.inputs)
        self._width = len(columns)
        self._blank = [_NAN] * self._width
        self._scalars: list[tuple[str, int, Callable[[Any], float]]] = []
        self._dates: list[tuple[str, int, int, Callable[[Any], list[float]]]] = []
        offset = 0
        for spec in meta.inputs:
            width = len(expanded_columns(spec))
            if spec.kind in ("number", "integer"):
                self._scalars.append((spec.name, offset, _number))
            elif spec.kind == "boolean":
                self._scalars.append((spec.name, offset, _boolean))
            elif spec.kind == "category":
                self._scalars.append((spec.name, offset, _category_converter(spec.categories)))
            elif spec.kind == "date":
                self._dates.append((spec.name, offset, width, date_features))
            elif spec.kind == "datetime":
                self._dates.append((spec.name, offset, width, datetime_features))
            else:
                raise ValueError(f"input '{spec.name}' has unknown kind '{spec.kind}'")
            offset += width
        self._inputs = {spec.name: spec for spec in meta.inputs}
        self._category_sets = {
            spec.name: frozenset(spec.categories) for spec in meta.inputs if spec.kind == "category"
        }
        self._ignored = frozenset(meta.ignored_columns)
        self._labels = [typed_label(c, meta.target_type) for c in meta.classes]
        self._outputs = output_plan(meta)
        low, high = [*meta.risk_thresholds, 0.33, 0.66][:2]
        self._risk_low, self._risk_high = low, high

    @classmethod
    def load(cls, artifact_dir: Path) -> LoadedModel:
        """Load an artifact directory written by `intentml.ml.train.train`.

        Raises ValueError when the artifact is missing, of a newer format, or its
        booster does not match its metadata.
        """
        meta_path = artifact_dir / META_FILE
        model_path = artifact_dir / MODEL_FILE
        try:
            meta = msgspec.json.decode(meta_path.read_bytes(), type=ModelMeta)
        except FileNotFoundError as exc:
            raise ValueError(f"no model artifact at {artifact_dir} ({META_FILE} missing)") from exc
        except msgspec.DecodeError as exc:
            raise ValueError(f"{meta_path} is not valid model metadata: {exc}") from exc
        if meta.format_version > FORMAT_VERSION:
            raise ValueError(
                f"artifact format {meta.format_version} is newer than this server "
                f"understands ({FORMAT_VERSION})"
            )
        if not model_path.is_file():
            raise ValueError(f"no model artifact at {artifact_dir} ({MODEL_FILE} missing)")
        try:
            booster = lgb.Booster(model_file=str(model_path))
        except lgb.basic.LightGBMError as exc:
            raise ValueError(f"{model_path} is not a valid LightGBM model: {exc}") from exc
        model = cls(meta, booster)
        if booster.num_feature() != model._width:
            raise ValueError(
                f"the booster expects {booster.num_feature()} features but the metadata "
                f"describes {model._width}"
            )
        return model

    # ----------------------------------------------------------------- validation

    def validate(
        self, row: Mapping[str, Any], path_prefix: str = ""
    ) -> tuple[list[InputError], list[str]]:
        """Check one request row: (errors, warnings).

        Errors: a required field absent, a value of the wrong JSON type (numbers as
        strings, booleans as numbers, ...), an unknown field. Warnings: fields the
        model ignores (dropped training columns, the target itself) and category
        values never seen in training (treated as missing). A field present with
        null is always allowed. Error fields are `path_prefix` + name, with a dot
        inserted unless the prefix ends in one ("[3]" → "[3].usage_minutes").
        """
        prefix = path_prefix if not path_prefix or path_prefix.endswith(".") else path_prefix + "."
        if not isinstance(row, Mapping):
            where = path_prefix or "$"
            return [InputError(where, "expected a JSON object of input fields", "object")], []
        errors: list[InputError] = []
        warnings: list[str] = []
        for spec in self.meta.inputs:
            if spec.name not in row:
                if spec.required:
                    errors.append(
                        InputError(
                            prefix + spec.name, "missing required field", _EXPECTED[spec.kind]
                        )
                    )
                continue
            value = row[spec.name]
            if value is None:
                continue
            problem = _type_problem(spec.kind, value)
            if problem is not None:
                errors.append(InputError(prefix + spec.name, problem, _EXPECTED[spec.kind]))
            elif spec.kind == "category" and value not in self._category_sets[spec.name]:
                warnings.append(
                    f"field '{prefix}{spec.name}' has the value {_short(value)}, which was not "
                    "seen in training; it is treated as missing"
                )
        for key in row:
            if key in self._inputs:
                continue
            if key in self._ignored:
                warnings.append(f"field '{prefix}{key}' is not used by the model and was ignored")
            elif key == self.meta.target:
                warnings.append(
                    f"field '{prefix}{key}' is what the model predicts; the given value was ignored"
                )
            else:
                errors.append(
                    InputError(prefix + str(key), self._unknown_message(str(key)), "no such field")
                )
        return errors, warnings

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

    # ------------------------------------------------------------------ prediction

    def predict_one(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Predict a single row (the low-latency path).

        The row should have passed `validate`; a value that cannot be converted
        raises `InvalidInput`. Absent fields and nulls are treated as missing.
        """
        try:
            vector = self._vector(row)
        except (TypeError, ValueError, AttributeError) as exc:
            raise self._invalid(row, "") from exc
        raw = self.booster.predict(np.array([vector], dtype=np.float64), num_threads=1)
        return self._format(np.asarray(raw)[0])

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Predict many rows with one call to LightGBM; same output as `predict_one`."""
        if not rows:
            return []
        vectors: list[list[float]] = []
        for index, row in enumerate(rows):
            try:
                vectors.append(self._vector(row))
            except (TypeError, ValueError, AttributeError) as exc:
                raise self._invalid(row, f"[{index}]") from exc
        raw = np.asarray(self.booster.predict(np.array(vectors, dtype=np.float64)))
        return [self._format(raw[i]) for i in range(len(vectors))]

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The feature matrix LightGBM sees for `rows` (for checks and debugging)."""
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

    def _invalid(self, row: Any, prefix: str) -> InvalidInput:
        errors, _ = self.validate(row, prefix)
        if not errors:
            errors = [InputError(prefix or "$", "the row could not be converted", "object")]
        return InvalidInput(errors)

    def _format(self, raw: Any) -> dict[str, Any]:
        task = self.meta.task
        out: dict[str, Any] = {}
        if task == "regression":
            value = float(raw)
            for field, kind in self._outputs:
                out[field] = value if kind in ("label", "value", "probability") else None
            return out
        if task == "binary":
            p = float(raw)
            label = self._labels[1] if p >= self.meta.decision_threshold else self._labels[0]
            confidence = p if p >= self.meta.decision_threshold else 1.0 - p
            probabilities = {self.meta.classes[0]: 1.0 - p, self.meta.classes[1]: p}
        else:
            probs = [float(x) for x in raw]
            best = max(range(len(probs)), key=probs.__getitem__)
            label = self._labels[best]
            p = confidence = probs[best]
            probabilities = dict(zip(self.meta.classes, probs, strict=True))
        for field, kind in self._outputs:
            if kind == "label" or kind == "value":
                out[field] = label
            elif kind == "probability":
                out[field] = p
            elif kind == "confidence":
                out[field] = confidence
            elif kind == "probabilities":
                out[field] = probabilities
            elif kind == "risk_level":
                out[field] = self._risk(p) if task == "binary" else None
        return out

    def _risk(self, p: float) -> str:
        if p < self._risk_low:
            return RISK_LEVELS[0]
        if p < self._risk_high:
            return RISK_LEVELS[1]
        return RISK_LEVELS[2]

    def sample_input(self) -> dict[str, Any]:
        """A typical valid request row: the training medians and most frequent values."""
        sample = dict(self.meta.sample_input)
        for spec in self.meta.inputs:
            if spec.name not in sample:
                sample[spec.name] = _placeholder(spec)
        return {spec.name: sample[spec.name] for spec in self.meta.inputs}

    # --------------------------------------------------------------------- schemas

    def input_schema(self) -> dict[str, Any]:
        """JSON Schema of one request row.

        Category values seen in training are listed as `examples`, not `enum`: an
        unseen value is accepted (with a warning). Fields the model ignores are listed
        without a type so clients that send whole records stay valid.
        """
        properties: dict[str, Any] = {}
        for spec in self.meta.inputs:
            prop: dict[str, Any] = {"type": [_JSON_TYPES[spec.kind], "null"]}
            if spec.kind == "date":
                prop["format"] = "date"
            elif spec.kind == "datetime":
                prop["format"] = "date-time"
            elif spec.kind == "category" and spec.categories:
                prop["examples"] = spec.categories[:10]
            properties[spec.name] = prop
        for name in self.meta.ignored_columns:
            properties.setdefault(name, {"description": "not used by the model; ignored"})
        properties.setdefault(
            self.meta.target, {"description": "the value the model predicts; ignored as input"}
        )
        return {
            "type": "object",
            "properties": properties,
            "required": [s.name for s in self.meta.inputs if s.required],
            "additionalProperties": False,
        }

    def output_schema(self) -> dict[str, Any]:
        """JSON Schema of one prediction."""
        meta = self.meta
        label_schema: dict[str, Any] = {
            "type": _LABEL_JSON_TYPES.get(meta.target_type, "string"),
        }
        if meta.task != "regression":
            label_schema["enum"] = list(self._labels)
        unit = {"type": "number", "minimum": 0, "maximum": 1}
        properties: dict[str, Any] = {}
        for field, kind in self._outputs:
            if meta.task == "regression":
                properties[field] = (
                    {"type": "number"}
                    if kind in ("label", "value", "probability")
                    else {"type": "null"}
                )
            elif kind in ("label", "value"):
                properties[field] = dict(label_schema)
            elif kind == "probability":
                properties[field] = {
                    **unit,
                    "description": f"probability that {meta.target} is {meta.positive_class}",
                }
            elif kind == "confidence":
                properties[field] = {**unit, "description": "probability of the predicted label"}
            elif kind == "probabilities":
                properties[field] = {
                    "type": "object",
                    "properties": {c: dict(unit) for c in meta.classes},
                    "required": list(meta.classes),
                }
            elif kind == "risk_level":
                properties[field] = (
                    {"type": "string", "enum": list(RISK_LEVELS)}
                    if meta.task == "binary"
                    else {"type": "null"}
                )
        return {
            "type": "object",
            "properties": properties,
            "required": [field for field, _ in self._outputs],
        }


def output_plan(meta: ModelMeta) -> list[tuple[str, str]]:
    """Each output field and what it carries.

    Kinds: "label" (the predicted class, typed like the target), "value" (a
    regression's prediction), "probability" (of the positive class), "confidence"
    (probability of the predicted class), "probabilities" (class → probability) and
    "risk_level" (low/medium/high from the positive-class probability).
    """
    target = meta.target
    if not meta.output_fields:
        if meta.task == "binary":
            return [(f"{target}_probability", "probability"), (target, "label")]
        if meta.task == "multiclass":
            return [(target, "label"), ("probabilities", "probabilities")]
        return [(target, "value")]
    target_key = name_key(target)
    primary = "value" if meta.task == "regression" else "label"
    plan: list[tuple[str, str]] = []
    for field in meta.output_fields:
        lowered = field.lower()
        if lowered == "probabilities" or lowered.endswith("_probabilities"):
            kind = "probabilities" if meta.task != "regression" else "value"
        elif lowered in _RISK_NAMES or lowered.endswith(tuple("_" + r for r in _RISK_NAMES)):
            kind = "risk_level"
        elif lowered == "confidence" or lowered.endswith("_confidence"):
            kind = "confidence" if meta.task != "regression" else "value"
        elif name_key(field) == target_key:
            kind = primary
        elif lowered in _PROBABILITY_NAMES or lowered.endswith(_PROBABILITY_SUFFIXES):
            kind = {"binary": "probability", "multiclass": "confidence"}.get(meta.task, "value")
        elif lowered.endswith(_LABEL_SUFFIXES):
            kind = primary
        else:
            # A field we cannot place carries the prediction itself, which is what a
            # user naming a single output ("will_leave") means.
            kind = primary
        plan.append((field, kind))
    return plan


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


def _type_problem(kind: str, value: Any) -> str | None:
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"expected a number, got {_describe(value)}"
        return None
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"expected an integer, got {_describe(value)}"
        if isinstance(value, float) and not (value.is_integer() or math.isnan(value)):
            return f"expected an integer, got {value!r}"
        return None
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
        except ValueError:
            example = "2024-05-01" if kind == "date" else "2024-05-01T13:45:00Z"
            return (
                f"expected an ISO 8601 {kind.replace('datetime', 'date-time')} like "
                f"{example}, got {_short(value)}"
            )
        return None
    return f"unsupported input kind '{kind}'"


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
