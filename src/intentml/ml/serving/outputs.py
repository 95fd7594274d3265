"""What a prediction carries: the output fields an artifact serves
(`served_outputs`), formatting raw predictions into them (`OutputFormatter`, one of
the parts of `LoadedModel`), the output schema and the answer Structs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from intentml.ml.outputs import default_plan, field_kind, is_risk_field
from intentml.ml.serving.meta import RISK_LEVELS, ModelMeta, typed_label

_LABEL_JSON_TYPES = {"boolean": "boolean", "integer": "integer", "number": "number"}


class Item(msgspec.Struct, gc=False):
    """One element of a `/predictions` answer."""

    prediction: Any


class ExplainedItem(msgspec.Struct, gc=False):
    """One element of a `/predictions?explain=true` answer."""

    prediction: Any
    explanation: Any


def prediction_struct(names: Sequence[str]) -> Any:
    """A Struct type encoding as a prediction with these output fields, or None if the
    names repeat (a dict then decides which value wins, as for single rows)."""
    if not names or len(set(names)) != len(names):
        return None
    fields = [(f"f{i}", Any, msgspec.field(name=name)) for i, name in enumerate(names)]
    # gc=False: predictions hold no reference cycles.
    return msgspec.defstruct("Prediction", fields, gc=False)


_RISK_ARRAY = np.array(RISK_LEVELS, dtype=object)


def records(keys: Sequence[str], columns: Sequence[list[Any]], n: int) -> list[dict[str, Any]]:
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


def served_outputs(meta: ModelMeta) -> list[tuple[str, str]]:
    """Each output field a stored artifact serves and what it carries (rules and kinds:
    `intentml.ml.outputs`; a build checks its fields with `outputs.plan_outputs`).

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


class OutputFormatter:
    """Raw LightGBM predictions as a model's output fields, one row or many at a time."""

    __slots__ = (
        "_label_array",
        "_labels",
        "_outputs",
        "_prediction_type",
        "_risk_high",
        "_risk_low",
        "meta",
        "output_names",
    )

    def __init__(self, meta: ModelMeta) -> None:
        self.meta = meta
        self._outputs = served_outputs(meta)
        self.output_names = [field for field, _ in self._outputs]
        self._prediction_type = prediction_struct(self.output_names)
        self._labels = [typed_label(c, meta.target_type) for c in meta.classes]
        self._label_array = np.empty(len(self._labels), dtype=object)
        self._label_array[:] = self._labels
        low, high = [*meta.risk_thresholds, 0.33, 0.66][:2]
        self._risk_low, self._risk_high = low, high

    @property
    def labels(self) -> list[Any]:
        """The class labels in code order, typed like the target."""
        return self._labels

    def predictions(self, raw: npt.NDArray[np.float64]) -> Sequence[Any]:
        """The predictions of a prediction array as objects that encode as the answer's
        `prediction`s: per-model Structs, or dicts when output names repeat."""
        columns = self._output_columns(raw)
        if self._prediction_type is None:
            return records(self.output_names, columns, len(raw))
        return list(map(self._prediction_type, *columns))

    def format(self, raw: Any) -> dict[str, Any]:
        """One row's raw prediction as its output fields."""
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

    def format_many(self, raw: npt.NDArray[np.float64]) -> list[dict[str, Any]]:
        """`format` of every row of a prediction array, column by column."""
        return records(self.output_names, self._output_columns(raw), len(raw))

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
                columns[kind] = records(classes, [c.tolist() for c in class_columns], n)
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

    def schema(self) -> dict[str, Any]:
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
