"""`LoadedModel`: a trained artifact loaded from disk, tying validation, batch
conversion, prediction, explanation and output formatting together.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm as lgb
import msgspec
import numpy as np

from intentml.ml.serving.batch import RowBatch, RowCodec
from intentml.ml.serving.explain import DEFAULT_SCALES, SCALES, ExplainMixin
from intentml.ml.serving.meta import (
    FORMAT_VERSION,
    META_FILE,
    MODEL_FILE,
    NAN,
    FeatureSpec,
    ModelMeta,
    date_features,
    datetime_features,
    expanded_columns,
    matrix_layout,
    typed_label,
)
from intentml.ml.serving.outputs import (
    ExplainedItem,
    Item,
    OutputMixin,
    output_plan,
    prediction_struct,
    records,
)
from intentml.ml.serving.single_row import SingleRowPredictor
from intentml.ml.serving.validation import InputError, known_values

_JSON_TYPES = {
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "category": "string",
    "date": "string",
    "datetime": "string",
}


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
            return lookup(value, NAN)
        raise TypeError("not a string")

    return convert


_ENCODER = msgspec.json.Encoder()


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


class LoadedModel(ExplainMixin, OutputMixin):
    """A trained model ready to validate requests and predict."""

    def __init__(self, meta: ModelMeta, booster: lgb.Booster) -> None:
        self.meta = meta
        self.booster = booster
        columns, _ = matrix_layout(meta.inputs)
        self._width = len(columns)
        self._blank = [NAN] * self._width
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
            spec.name: known_values(spec.categories)
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
        self._codec = RowCodec(meta.inputs, [k for k, _ in self._extra_keys])
        self._labels = [typed_label(c, meta.target_type) for c in meta.classes]
        self._label_array = np.empty(len(self._labels), dtype=object)
        self._label_array[:] = self._labels
        self._outputs = output_plan(meta)
        self._output_names = [field for field, _ in self._outputs]
        self._prediction_type = prediction_struct(self._output_names)
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
        self._scale = SCALES.get(objective[0] if objective else "", DEFAULT_SCALES[meta.task])
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
            predictions = records(self._output_names, columns, len(matrix))
        else:
            predictions = list(map(self._prediction_type, *columns))
        items: list[Any]
        if explain:
            items = list(map(ExplainedItem, predictions, self._explain_matrix(matrix)))
        else:
            items = list(map(Item, predictions))
        return errors, warnings, _ENCODER.encode(items)

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

    def sample_input(self) -> dict[str, Any]:
        """A typical valid request row: the training medians and most frequent values."""
        sample = dict(self.meta.sample_input)
        for spec in self.meta.inputs:
            if spec.name not in sample:
                sample[spec.name] = _placeholder(spec)
        return {spec.name: sample[spec.name] for spec in self.meta.inputs}

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
