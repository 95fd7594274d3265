"""Explanations: LightGBM's per-input contributions to a prediction (`Explainer`, one of
the parts of `LoadedModel`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from intentml.ml.serving.codec import InputColumn
from intentml.ml.serving.meta import ModelMeta
from intentml.ml.serving.outputs import records

#: What the raw score of a LightGBM objective is, as an explanation's `scale` names it.
SCALES = {
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


DEFAULT_SCALES = {"binary": "log_odds", "multiclass": "logit", "regression": "value"}


class Explainer:
    """Splits a model's raw scores into per-input contributions (LightGBM's TreeSHAP)."""

    __slots__ = ("_booster", "_classes", "_groups", "_input_names", "_positive", "_scale", "_width")

    def __init__(
        self,
        meta: ModelMeta,
        booster: lgb.Booster,
        columns: Sequence[InputColumn],
        width: int,
        labels: Sequence[Any],
    ) -> None:
        self._booster = booster
        self._width = width
        self._input_names = [column.spec.name for column in columns]
        #: Sums the contribution columns LightGBM gives (one per matrix column, then the
        #: bias) into one per input, then the bias.
        groups = np.zeros((width + 1, len(columns) + 1), dtype=np.float64)
        for position, column in enumerate(columns):
            groups[column.offset : column.offset + column.width, position] = 1.0
        groups[width, len(columns)] = 1.0
        self._groups = groups
        self._classes = list(meta.classes) if meta.task == "multiclass" else []
        objective = str(booster.params.get("objective", "")).split()[0:1]
        self._scale = SCALES.get(objective[0] if objective else "", DEFAULT_SCALES[meta.task])
        #: A binary model's explanations name the class its log-odds are of.
        self._positive = labels[-1] if meta.task == "binary" and labels else None

    def explain(self, matrix: npt.NDArray[np.float64], threads: int = 0) -> list[dict[str, Any]]:
        """The explanation of each row of a feature matrix (see `LoadedModel.explain_rows`);
        `threads` 0 lets LightGBM choose."""
        n = len(matrix)
        classes = self._classes
        options: dict[str, Any] = {"num_threads": threads} if threads else {}
        contrib = np.asarray(self._booster.predict(matrix, pred_contrib=True, **options))
        # (rows, classes, matrix columns + bias) → (rows, classes, inputs + bias)
        per_input = contrib.reshape(n, len(classes) or 1, self._width + 1) @ self._groups
        raw = per_input.sum(axis=2)
        names = self._input_names
        parts: list[list[dict[str, Any]]] = []
        for k in range(len(classes) or 1):
            contributions = records(names, [c.tolist() for c in per_input[:, k, :-1].T], n)
            parts.append(
                records(
                    ("base_value", "raw_score", "contributions"),
                    [per_input[:, k, -1].tolist(), raw[:, k].tolist(), contributions],
                    n,
                )
            )
        if classes:
            by_class = records(classes, parts, n)
            return [{"scale": self._scale, "classes": c} for c in by_class]
        head: dict[str, Any] = {"scale": self._scale}
        if self._positive is not None:
            head["positive_class"] = self._positive
        return [{**head, **part} for part in parts[0]]
