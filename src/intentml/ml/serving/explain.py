"""Explanations: LightGBM's per-input contributions to a prediction (`ExplainMixin`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from intentml.ml.serving.batch import BatchMixin
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


class ExplainMixin(BatchMixin):
    """The explanations of `LoadedModel` (attributes set by its `__init__`)."""

    booster: lgb.Booster
    _explained_classes: list[str]
    _contribution_groups: npt.NDArray[np.float64]
    _input_names: list[str]
    _scale: str
    _labels: list[Any]

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
        if self.meta.task == "binary":
            head["positive_class"] = self._labels[-1]
        return [{**head, **part} for part in parts[0]]
