"""Loading a trained artifact and answering predictions: the inference hot path.

An artifact directory holds `model.txt` (the LightGBM booster) and `meta.json`
(`ModelMeta`: the inputs, category codes, classes and output fields). Requests are
plain mappings decoded from JSON; they are turned into a float64 matrix by
per-field converters built once at load time, so serving needs neither pandas nor
any per-request schema work.

Batches go column by column: each input's values are gathered once, checked with
set and numpy operations and converted in bulk, and predictions are assembled from
numpy columns; only rows that look wrong are looked at one by one. The answers are
the row-by-row ones (`validate`, `predict_one`), which the tests hold them to.
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import math
import numbers
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from itertools import compress, islice, repeat
from operator import attrgetter
from pathlib import Path
from types import GenericAlias
from typing import Any, cast

import lightgbm as lgb
import msgspec
import numpy as np
import numpy.typing as npt

from intentml.ml.outputs import default_plan, field_kind, is_risk_field

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
    return [float(part) for part in _date_parts(value)]


def _date_parts(value: Any) -> tuple[int, int, int, int, int]:
    """`date_features` as ints."""
    if type(value) is str and len(value) == 10:
        # The common YYYY-MM-DD: what datetime.fromisoformat would give, faster.
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = parse_when(value).date()
    else:
        day = parse_when(value).date()
    return (day.year, day.month, day.day, day.weekday(), day.toordinal() - _EPOCH_ORDINAL)


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


#: LightGBM's loaded C library (not re-exported by its typing).
_LGBM_LIB: Any = vars(lgb.basic)["_LIB"]


class SingleRowPredictor:
    """LightGBM's fast single-row C API, set up once per model.

    `Booster.predict` builds a predictor and converts its input on every call:
    ~45 µs for one row. `LGBM_BoosterPredictForMatSingleRowFast` reuses a
    configuration made once: ~7 µs, the same numbers. Its buffers belong to the
    configuration, so calls are serialized (uncontended on the event loop).
    """

    def __init__(self, booster: lgb.Booster, width: int, handle: ctypes.c_void_p) -> None:
        self._handle = handle
        self._outputs = booster.num_model_per_iteration()
        self._out = np.zeros(self._outputs, dtype=np.float64)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64(0)
        self._width = width
        self._lock = threading.Lock()
        self._booster = booster  # the configuration points into it: keep it alive

    @classmethod
    def create(cls, booster: lgb.Booster, width: int) -> SingleRowPredictor | None:
        """A predictor for `booster`, or None where this LightGBM build lacks the API."""
        lib = _LGBM_LIB
        # The iterations Booster.predict would use by default.
        iterations = booster.best_iteration if booster.best_iteration > 0 else -1
        handle = ctypes.c_void_p()
        try:
            status = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(0),  # C_API_PREDICT_NORMAL
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(iterations),
                ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
                ctypes.c_int32(width),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(handle),
            )
        except AttributeError:
            return None
        return cls(booster, width, handle) if status == 0 else None

    def predict(self, vector: list[float]) -> Any:
        """The raw prediction of one feature vector, as `Booster.predict(...)[0]` gives it."""
        row = np.asarray(vector, dtype=np.float64)
        if row.shape != (self._width,):
            raise ValueError(f"expected {self._width} features, got {row.shape}")
        with self._lock:
            status = _LGBM_LIB.LGBM_BoosterPredictForMatSingleRowFast(
                self._handle,
                row.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(self._out_len),
                self._out_ptr,
            )
            if status != 0:
                raise lgb.basic.LightGBMError(_LGBM_LIB.LGBM_GetLastError().decode())
            return float(self._out[0]) if self._outputs == 1 else self._out.copy()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            _LGBM_LIB.LGBM_FastConfigFree(self._handle)


#: The types a row Struct lets through for each input kind: the JSON types
#: `_type_problem` accepts, as JSON decodes them (ints stay ints, so the dict path's
#: checks and messages apply to them unchanged).
_ROW_FIELD_TYPES: dict[str, Any] = {
    "number": int | float | None,
    "integer": int | float | None,
    "boolean": bool | None,
    "category": str | None,
    "date": str | None,
    "datetime": str | None,
}


class _RowCodec:
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

    def __init__(self, rows: list[Any], body: bytes, codec: _RowCodec) -> None:
        self.rows = rows
        self.body = body
        self.codec = codec

    def __len__(self) -> int:
        return len(self.rows)

    def keys_of(self, index: int) -> list[str]:
        """The keys of row `index` in the order the body gives them."""
        raw = msgspec.json.decode(self.body, type=list[msgspec.Raw])[index]
        return list(msgspec.json.decode(raw, type=dict[str, Any]))


#: What the raw score of a LightGBM objective is, as an explanation's `scale` names it.
_SCALES = {
    "binary": "log_odds",
    "cross_entropy": "log_odds",
    "multiclassova": "log_odds",
    "multiclass": "logit",
    "regression": "value",
    "regression_l1": "value",
    "huber": "value",
    "fair": "value",
    "quantile": "value",
    "mape": "value",
    "poisson": "log",
    "gamma": "log",
    "tweedie": "log",
}
_DEFAULT_SCALES = {"binary": "log_odds", "multiclass": "logit", "regression": "value"}


class _Item(msgspec.Struct, gc=False):
    """One element of a `/predictions` answer."""

    prediction: Any


class _ExplainedItem(msgspec.Struct, gc=False):
    """One element of a `/predictions?explain=true` answer."""

    prediction: Any
    explanation: Any


def _prediction_struct(names: Sequence[str]) -> Any:
    """A Struct type encoding as a prediction with these output fields, or None if the
    names repeat (a dict then decides which value wins, as for single rows)."""
    if not names or len(set(names)) != len(names):
        return None
    fields = [(f"f{i}", Any, msgspec.field(name=name)) for i, name in enumerate(names)]
    # gc=False: predictions hold no reference cycles.
    return msgspec.defstruct("Prediction", fields, gc=False)


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
        #: Every input with its matrix offset and width, for the column-wise batch path.
        self._columns: list[tuple[FeatureSpec, int, int]] = []
        self._codes: dict[str, dict[str, float]] = {}
        offset = 0
        for spec in meta.inputs:
            width = len(expanded_columns(spec))
            if spec.kind in ("number", "integer"):
                self._scalars.append((spec.name, offset, _number))
            elif spec.kind == "boolean":
                self._scalars.append((spec.name, offset, _boolean))
            elif spec.kind == "category":
                self._scalars.append((spec.name, offset, _category_converter(spec.categories)))
                self._codes[spec.name] = {v: float(code) for code, v in enumerate(spec.categories)}
            elif spec.kind == "date":
                self._dates.append((spec.name, offset, width, date_features))
            elif spec.kind == "datetime":
                self._dates.append((spec.name, offset, width, datetime_features))
            else:
                raise ValueError(f"input '{spec.name}' has unknown kind '{spec.kind}'")
            self._columns.append((spec, offset, width))
            offset += width
        self._inputs = {spec.name: spec for spec in meta.inputs}
        self._category_sets = {
            spec.name: frozenset(spec.categories) for spec in meta.inputs if spec.kind == "category"
        }
        self._known_values = {
            spec.name: _known_values(spec.categories)
            for spec in meta.inputs
            if spec.kind == "category"
        }
        self._ignored = frozenset(meta.ignored_columns)
        #: Keys a row may carry besides the inputs (warnings, not errors), in check order.
        self._extra_keys: list[tuple[str, str]] = [
            (name, "ignored") for name in dict.fromkeys(meta.ignored_columns)
        ]
        if meta.target not in self._ignored:
            self._extra_keys.append((meta.target, "target"))
        self._extra_keys = [(k, code) for k, code in self._extra_keys if k not in self._inputs]
        self._allowed_keys = frozenset(self._inputs) | {k for k, _ in self._extra_keys}
        self._codec = _RowCodec(meta.inputs, [k for k, _ in self._extra_keys])
        self._labels = [typed_label(c, meta.target_type) for c in meta.classes]
        self._label_array = np.empty(len(self._labels), dtype=object)
        self._label_array[:] = self._labels
        self._outputs = output_plan(meta)
        self._output_names = [field for field, _ in self._outputs]
        self._prediction_type = _prediction_struct(self._output_names)
        self._input_names = [spec.name for spec in meta.inputs]
        #: Sums the contribution columns LightGBM gives (one per matrix column, then the
        #: bias) into one per input, then the bias.
        groups = np.zeros((self._width + 1, len(meta.inputs) + 1), dtype=np.float64)
        for position, (_, offset, width) in enumerate(self._columns):
            groups[offset : offset + width, position] = 1.0
        groups[self._width, len(meta.inputs)] = 1.0
        self._contribution_groups = groups
        self._explained_classes = list(meta.classes) if meta.task == "multiclass" else []
        objective = str(booster.params.get("objective", "")).split()[0:1]
        self._scale = _SCALES.get(objective[0] if objective else "", _DEFAULT_SCALES[meta.task])
        low, high = [*meta.risk_thresholds, 0.33, 0.66][:2]
        self._risk_low, self._risk_high = low, high
        self._single_row = SingleRowPredictor.create(booster, self._width)

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
        self, row: Mapping[str, Any], path_prefix: str = "", strict: bool = False
    ) -> tuple[list[InputError], list[str]]:
        """Check one request row: (errors, warnings).

        Errors: a required field absent, a value of the wrong JSON type (numbers as
        strings, booleans as numbers, ...), an unknown field. Warnings: fields the
        model ignores (dropped training columns, the target itself) and category
        values never seen in training (treated as missing; with `strict` such a value
        is an error instead). A field present with null is always allowed. Error
        fields are `path_prefix` + name, with a dot inserted unless the prefix ends in
        one ("[3]" → "[3].usage_minutes").
        """
        if not isinstance(row, Mapping):
            where = path_prefix or "$"
            return [InputError(where, "expected a JSON object of input fields", "object")], []
        prefix = path_prefix if not path_prefix or path_prefix.endswith(".") else path_prefix + "."
        errors, notes = self._row_issues(row, strict)
        if prefix:
            errors = [InputError(prefix + e.field, e.message, e.expected) for e in errors]
        return errors, [_note_text(code, prefix + field, value) for code, field, value in notes]

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
        report = _BatchReport()
        self._check_rows(rows, strict, report, None)
        return report.result()

    def validate_and_predict_rows(
        self, rows: Sequence[Any] | RowBatch, strict: bool = False
    ) -> tuple[list[InputError], list[str], list[dict[str, Any]] | None]:
        """`validate_rows`, then `predict_rows` if there are no errors, in one pass.

        Returns (errors, warnings, predictions); predictions is None when there are
        errors. The same results as the two calls, faster: the values each input
        gathers for validation are converted into the feature matrix right away.
        `rows` may be a `RowBatch` from `decode_batch`: the same results again.
        """
        errors, warnings, matrix = self._validated_matrix(rows, strict)
        if matrix is None:
            return errors, warnings, None
        if not len(matrix):
            return errors, warnings, []
        return errors, warnings, self._format_many(np.asarray(self.booster.predict(matrix)))

    def validate_and_predict_json(
        self, rows: Sequence[Any] | RowBatch, strict: bool = False, explain: bool = False
    ) -> tuple[list[InputError], list[str], bytes | None]:
        """`validate_and_predict_rows` with the predictions as the `/predictions` answer.

        Returns (errors, warnings, JSON); the JSON, None when there are errors, is
        `[{"prediction": {...}}, ...]` in row order, each element with an `explanation`
        (see `explain_rows`) when `explain`. Encoded from per-model Structs: about half
        the time of building and encoding dicts.
        """
        errors, warnings, matrix = self._validated_matrix(rows, strict)
        if matrix is None:
            return errors, warnings, None
        if not len(matrix):
            return errors, warnings, b"[]"
        columns = self._output_columns(np.asarray(self.booster.predict(matrix)))
        predictions: Sequence[Any]
        if self._prediction_type is None:
            predictions = _records(self._output_names, columns, len(matrix))
        else:
            predictions = list(map(self._prediction_type, *columns))
        items: list[Any]
        if explain:
            items = list(map(_ExplainedItem, predictions, self._explain_matrix(matrix)))
        else:
            items = list(map(_Item, predictions))
        return errors, warnings, _ENCODER.encode(items)

    def _validated_matrix(
        self, rows: Sequence[Any] | RowBatch, strict: bool
    ) -> tuple[list[InputError], list[str], npt.NDArray[np.float64] | None]:
        """Validate `rows` and build their feature matrix: (errors, warnings, matrix).

        The matrix is None when there are errors.
        """
        report = _BatchReport()
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
        report: _BatchReport,
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

    def _row_issues(
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
            problem = _type_problem(spec.kind, value)
            if problem is not None:
                errors.append(InputError(spec.name, problem, _EXPECTED[spec.kind]))
            elif spec.kind == "category" and value not in self._category_sets[spec.name]:
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

    def _scan_rows(
        self,
        rows: Sequence[dict[str, Any]],
        first: list[Any],
        strict: bool,
        report: _BatchReport,
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
                    shown = list(islice(compress(range(n), flags), _WARNING_ROWS_SHOWN))
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
        report: _BatchReport,
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
                shown = list(islice(having, _WARNING_ROWS_SHOWN))
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
        report: _BatchReport,
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
                    map(codes, column, repeat(_NAN)), dtype=np.float64, count=n
                )
            else:
                rows_of = np.fromiter(map(lookup.__getitem__, column), dtype=np.intp, count=n)
                matrix[:, offset : offset + width] = table[rows_of]
        return suspects, present, matrix

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
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise self._invalid(row, "") from exc
        if self._single_row is not None:
            return self._format(self._single_row.predict(vector))
        raw = self.booster.predict(np.array([vector], dtype=np.float64), num_threads=1)
        return self._format(np.asarray(raw)[0])

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Predict many rows with one call to LightGBM; same output as `predict_one`.

        The rows should have passed `validate_rows`; the first row with a value that
        cannot be converted raises `InvalidInput` (fields like `[3].usage_minutes`).
        """
        if not rows:
            return []
        raw = np.asarray(self.booster.predict(self._predict_matrix(rows)))
        return self._format_many(raw)

    def explain_one(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The explanation of one row's prediction (see `explain_rows`).

        The row should have passed `validate`; a value that cannot be converted
        raises `InvalidInput`.
        """
        try:
            vector = self._vector(row)
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise self._invalid(row, "") from exc
        return self._explain_matrix(np.array([vector], dtype=np.float64), threads=1)[0]

    def explain_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Why the model predicts what it does for each row: LightGBM's own contributions.

        Each explanation splits the model's raw score for the row into a `base_value`
        (the same for every row: the average raw score over the training data) plus one
        contribution per input field (`contributions`, in input order; a date's parts
        are summed into its field); `raw_score` is their sum. These are LightGBM's
        `pred_contrib` values (TreeSHAP). `scale` says what the raw score is:

        - `log_odds` (binary): of `positive_class`; the probability is
          1 / (1 + exp(-raw_score));
        - `value` (regression): the predicted value itself;
        - `logit` (multiclass): `classes` holds one such split per class (keyed by the
          class label); the probabilities are the softmax of the classes' raw scores.

        (`log` would be a regression whose prediction is exp(raw_score).) The rows
        should have passed `validate_rows`, as for `predict_rows`.
        """
        if not rows:
            return []
        return self._explain_matrix(self._predict_matrix(rows))

    def _explain_matrix(
        self, matrix: npt.NDArray[np.float64], threads: int = 0
    ) -> list[dict[str, Any]]:
        """`explain_rows` of a feature matrix."""
        n = len(matrix)
        classes = self._explained_classes
        options: dict[str, Any] = {"num_threads": threads} if threads else {}
        contrib = np.asarray(self.booster.predict(matrix, pred_contrib=True, **options))
        # (rows, classes, matrix columns + bias) → (rows, classes, inputs + bias)
        per_input = (
            contrib.reshape(n, len(classes) or 1, self._width + 1) @ self._contribution_groups
        )
        raw = per_input.sum(axis=2)
        names = self._input_names
        parts: list[list[dict[str, Any]]] = []
        for k in range(len(classes) or 1):
            contributions = _records(names, [c.tolist() for c in per_input[:, k, :-1].T], n)
            parts.append(
                _records(
                    ("base_value", "raw_score", "contributions"),
                    [per_input[:, k, -1].tolist(), raw[:, k].tolist(), contributions],
                    n,
                )
            )
        if classes:
            by_class = _records(classes, parts, n)
            return [{"scale": self._scale, "classes": c} for c in by_class]
        head: dict[str, Any] = {"scale": self._scale}
        if self.meta.task == "binary":
            head["positive_class"] = self._labels[-1]
        return [{**head, **part} for part in parts[0]]

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
                        map(codes, column, repeat(_NAN)), dtype=np.float64, count=n
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

    def _format_many(self, raw: npt.NDArray[np.float64]) -> list[dict[str, Any]]:
        """`_format` of every row of a prediction array, column by column."""
        return _records(self._output_names, self._output_columns(raw), len(raw))

    def _output_columns(self, raw: npt.NDArray[np.float64]) -> list[list[Any]]:
        """The values of each output field (in `_outputs` order) for a prediction array."""
        n = len(raw)
        task = self.meta.task
        kinds = {kind for _, kind in self._outputs}
        columns: dict[str, list[Any]] = {}
        if task == "regression":
            values = raw.reshape(n).tolist()
            for kind in kinds:
                columns[kind] = values if kind in ("label", "value", "probability") else [None] * n
            return [columns[kind] for _, kind in self._outputs]
        confidence: npt.NDArray[np.float64] | None = None
        class_columns: Sequence[npt.NDArray[np.float64]] = ()
        if task == "binary":
            p = raw.reshape(n)
            positive = p >= self.meta.decision_threshold
            chosen = positive.astype(np.intp)
            if "confidence" in kinds:
                confidence = np.where(positive, p, 1.0 - p)
            classes = self.meta.classes[:2]
            if "probabilities" in kinds:
                class_columns = (1.0 - p, p)
        else:
            chosen = raw.argmax(axis=1)
            p = confidence = raw[np.arange(n), chosen]
            classes = self.meta.classes
            class_columns = tuple(raw.T) if "probabilities" in kinds else ()
        for kind in kinds:
            if kind == "label" or kind == "value":
                columns[kind] = self._label_array.take(chosen).tolist()
            elif kind == "probability":
                columns[kind] = p.tolist()
            elif kind == "confidence" and confidence is not None:
                columns[kind] = confidence.tolist()
            elif kind == "probabilities":
                columns[kind] = _records(classes, [c.tolist() for c in class_columns], n)
            elif kind == "risk_level" and task == "binary":
                level = np.where(p < self._risk_low, 0, np.where(p < self._risk_high, 1, 2))
                columns[kind] = _RISK_ARRAY.take(level).tolist()
            else:
                columns[kind] = [None] * n
        return [columns[kind] for _, kind in self._outputs]

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


class _Fallback(Exception):
    """The column-wise batch path does not apply; the row-by-row path takes over."""


class _Absent:
    """Marks a field absent from a row (as opposed to present with null)."""

    __slots__ = ()


_ABSENT = _Absent()
_NONE_TYPE = type(None)
_ENCODER = msgspec.json.Encoder()
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
_RISK_ARRAY = np.array(RISK_LEVELS, dtype=object)

#: At most this many errors are listed for a batch; one more entry says how many were left out.
MAX_BATCH_ERRORS = 1000
#: A batch warning shared by many rows names this many of them, then the count.
_WARNING_ROWS_SHOWN = 3
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


class _BatchReport:
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
        note.rows.extend(rows[: _WARNING_ROWS_SHOWN - len(note.rows)])
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


def _known_values(categories: list[str]) -> str:
    shown = ", ".join(categories[:_KNOWN_VALUES_SHOWN])
    if len(categories) > _KNOWN_VALUES_SHOWN:
        shown += f", … ({len(categories):,} in all)"
    return shown


def _bad_numbers(
    column: list[Any], numeric: npt.NDArray[np.float64] | None, kind: str, fractions: bool
) -> list[int]:
    """Rows of a number or integer column with an int or float `_type_problem` rejects:
    ints too large for a float and, for integers, floats that are not whole.

    `numeric` is the column as floats, if it could be converted (other value types
    are caught by their type); `fractions` says whether to look for non-whole floats.
    """
    if numeric is None:
        return [
            i for i, v in enumerate(column) if type(v) in (int, float) and _type_problem(kind, v)
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
    ISO 8601 dates, which `_type_problem` rejects (their rows are NaN too).
    """
    expand: Callable[[Any], Sequence[float]] = _date_parts if kind == "date" else datetime_features
    width = len(DATE_PARTS) if kind == "date" else len(DATETIME_PARTS)
    blank = (_NAN,) * width
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


def _records(keys: Sequence[str], columns: Sequence[list[Any]], n: int) -> list[dict[str, Any]]:
    """`n` row dicts from columns of length `n` (dict displays for the usual small widths)."""
    if not keys:
        return [{} for _ in range(n)]
    if len(keys) == 1:
        (k0,) = keys
        return [{k0: v0} for v0 in columns[0]]
    if len(keys) == 2:
        k0, k1 = keys
        return [{k0: v0, k1: v1} for v0, v1 in zip(*columns, strict=True)]
    if len(keys) == 3:
        k0, k1, k2 = keys
        return [{k0: v0, k1: v1, k2: v2} for v0, v1, v2 in zip(*columns, strict=True)]
    if len(keys) == 4:
        k0, k1, k2, k3 = keys
        return [{k0: v0, k1: v1, k2: v2, k3: v3} for v0, v1, v2, v3 in zip(*columns, strict=True)]
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]


def output_plan(meta: ModelMeta) -> list[tuple[str, str]]:
    """Each output field and what it carries (rules and kinds: `intentml.ml.outputs`).

    Kinds: "label" (the predicted class, typed like the target), "value" (a
    regression's prediction), "probability" (of the positive class), "confidence"
    (probability of the predicted class), "probabilities" (class → probability) and
    "risk_level" (low/medium/high from the positive-class probability).
    """
    if not meta.output_fields:
        return default_plan(meta.target, meta.task)
    primary = "value" if meta.task == "regression" else "label"
    plan: list[tuple[str, str]] = []
    for field in meta.output_fields:
        kind = field_kind(field, meta.target, meta.task)
        if isinstance(kind, str):
            plan.append((field, kind))
        else:
            # Builds refuse fields their task cannot fill; artifacts from before that
            # check keep serving them as they always did: a risk level of a model that
            # has none is null, anything else carries the prediction.
            plan.append((field, "risk_level" if is_risk_field(field) else primary))
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
