"""Scoring a model on held-out rows, and how much each input contributed to it."""

from __future__ import annotations

import math

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from intentml.domain.training_report import ClassScores, TestEvaluation
from intentml.ml import metrics as m
from intentml.ml.errors import TrainingFailed
from intentml.ml.serving import FeatureSpec, expanded_columns
from intentml.ml.task import Target


def evaluate_test(
    target: Target, y_true: npt.NDArray[np.float64], raw: npt.NDArray[np.float64]
) -> TestEvaluation:
    """Every metric of the task, plus confusion matrix and per-class scores for classifiers."""
    scores = evaluate(target, y_true, raw)
    if target.task == "regression":
        return TestEvaluation(rows=len(y_true), metrics=scores)
    codes = y_true.astype(np.int64)
    predicted = _predicted_codes(target, raw)
    k = len(target.classes)
    per_class = {
        label: ClassScores(
            precision=round(s["precision"], 6),
            recall=round(s["recall"], 6),
            f1=round(s["f1"], 6),
            support=int(s["support"]),
        )
        for label, s in zip(target.classes, m.per_class(codes, predicted, k), strict=True)
    }
    return TestEvaluation(
        rows=len(y_true),
        metrics=scores,
        labels=list(target.classes),
        confusion_matrix=m.confusion_matrix(codes, predicted, k),
        per_class=per_class,
    )


def _predicted_codes(target: Target, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    if target.task == "binary":
        return (raw >= 0.5).astype(np.int64)
    codes: npt.NDArray[np.int64] = np.argmax(raw, axis=1).astype(np.int64)
    return codes


def evaluate(
    target: Target, y_true: npt.NDArray[np.float64], raw: npt.NDArray[np.float64]
) -> dict[str, float]:
    """All metrics of the task for predictions `raw` (probabilities or values)."""
    if target.task == "regression":
        scores = {
            "rmse": m.rmse(y_true, raw),
            "mae": m.mae(y_true, raw),
            "r2": m.r2(y_true, raw),
            "mape": m.mape(y_true, raw),
        }
    else:
        codes = y_true.astype(np.int64)
        predicted = _predicted_codes(target, raw)
        # Binary scores are of the positive class; multiclass ones macro-average the classes.
        positive = 1 if target.task == "binary" else None
        scores = {
            "accuracy": m.accuracy(codes, predicted),
            "precision": m.precision(codes, predicted, positive),
            "recall": m.recall(codes, predicted, positive),
            "f1": m.f1(codes, predicted, positive),
            "roc_auc": m.roc_auc(codes, raw),
            "log_loss": m.log_loss(codes, raw),
        }
    # NaN (undefined on this test set) cannot travel through JSON; leave it out.
    return {k: float(v) for k, v in scores.items() if math.isfinite(v)}


def primary_metric(task: str, wanted: str, scores: dict[str, float]) -> tuple[str, float, str]:
    """(metric, value, note): the wanted metric, or a fallback and a note saying why."""
    if wanted in scores:
        return wanted, scores[wanted], ""
    fallback = "accuracy" if task != "regression" else "rmse"
    if wanted == fallback or fallback not in scores:
        fallback = next(iter(scores), "")
    if not fallback:
        raise TrainingFailed(
            "evaluation_failed", "no metric could be computed on the held-out rows"
        )
    why = (
        "the held-out rows contain a single class"
        if wanted == "roc_auc"
        else "it is undefined on the held-out rows"
    )
    return fallback, scores[fallback], f"{wanted} cannot be computed ({why}); reporting {fallback}"


def importance(
    booster: lgb.Booster, inputs: list[FeatureSpec], iteration: int | None
) -> dict[str, float]:
    """Each input's share of the total split gain, largest first (sums to 1)."""
    gains = np.asarray(booster.feature_importance("gain", iteration=iteration), dtype=np.float64)
    per_input: dict[str, float] = {}
    j = 0
    for spec in inputs:
        # A date's importance is the sum over the features it expands to.
        width = len(expanded_columns(spec))
        per_input[spec.name] = float(gains[j : j + width].sum())
        j += width
    total = sum(per_input.values())
    if total > 0:
        per_input = {k: v / total for k, v in per_input.items()}
    return dict(sorted(per_input.items(), key=lambda kv: -kv[1]))
