"""Evaluation metrics in plain numpy (scikit-learn is deliberately not a dependency).

Classification functions take integer class codes (`y_true`, `y_pred`) and, where
they need scores, the predicted probabilities: a 1-D array of positive-class
probabilities for binary problems, or an (n, k) matrix for k classes. A metric that
is undefined on the given data (AUC with one class, R² of a constant) returns NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ArrayLike = npt.ArrayLike

#: Canonical metric names, by the kind of task they apply to.
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")

#: Metrics where larger is better; for the rest (losses, errors) smaller is better.
HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "r2"})

_ALIASES = {
    "f1_score": "f1",
    "f1score": "f1",
    "auc": "roc_auc",
    "rocauc": "roc_auc",
    "roc": "roc_auc",
    "logloss": "log_loss",
    "cross_entropy": "log_loss",
    "acc": "accuracy",
    "r_squared": "r2",
    "rsquared": "r2",
    "root_mean_squared_error": "rmse",
    "mean_absolute_error": "mae",
    "mean_absolute_percentage_error": "mape",
}

_EPS = 1e-15


def canonical_metric(name: str) -> str | None:
    """The canonical name of a metric ("AUC" → "roc_auc"), or None if unknown."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key in CLASSIFICATION_METRICS or key in REGRESSION_METRICS:
        return key
    return None


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of predictions equal to the truth."""
    t, p = _pair(y_true, y_pred)
    if t.size == 0:
        return math.nan
    return float(np.mean(t == p))


def precision(y_true: ArrayLike, y_pred: ArrayLike, positive: int | None = None) -> float:
    """Precision of class `positive`, or the macro average over classes when None.

    A class that is never predicted has precision 0 (as scikit-learn's default).
    """
    t, p = _pair(y_true, y_pred)
    return _per_class(t, p, positive, _precision_of)


def recall(y_true: ArrayLike, y_pred: ArrayLike, positive: int | None = None) -> float:
    """Recall of class `positive`, or the macro average over classes when None."""
    t, p = _pair(y_true, y_pred)
    return _per_class(t, p, positive, _recall_of)


def f1(y_true: ArrayLike, y_pred: ArrayLike, positive: int | None = None) -> float:
    """F1 (harmonic mean of precision and recall) of `positive`, or the macro average."""
    t, p = _pair(y_true, y_pred)
    return _per_class(t, p, positive, _f1_of)


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve.

    Binary: `y_true` in {0, 1}, `scores` the positive-class scores; ties count half
    (the Mann-Whitney U statistic). Multiclass (`scores` of shape (n, k)): the
    unweighted mean of one-vs-rest AUCs over classes present in `y_true`. NaN when
    `y_true` holds a single class.
    """
    t = np.asarray(y_true).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 2:
        aucs = [
            _binary_auc((t == k).astype(np.int64), s[:, k])
            for k in range(s.shape[1])
            if np.any(t == k)
        ]
        aucs = [a for a in aucs if not math.isnan(a)]
        return float(np.mean(aucs)) if aucs else math.nan
    return _binary_auc(t, s.ravel())


def log_loss(y_true: ArrayLike, proba: ArrayLike) -> float:
    """Mean negative log-likelihood of the true classes (probabilities clipped at 1e-15)."""
    t = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(proba, dtype=np.float64)
    if t.size == 0:
        return math.nan
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    # Rows are renormalized after clipping so they stay distributions.
    p = np.clip(p, _EPS, 1.0 - _EPS)
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(t.size), t])))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root of the mean squared error."""
    t, p = _float_pair(y_true, y_pred)
    if t.size == 0:
        return math.nan
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error."""
    t, p = _float_pair(y_true, y_pred)
    if t.size == 0:
        return math.nan
    return float(np.mean(np.abs(t - p)))


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination; NaN when the truth is constant."""
    t, p = _float_pair(y_true, y_pred)
    if t.size == 0:
        return math.nan
    total = float(np.sum((t - t.mean()) ** 2))
    if total == 0.0:
        return math.nan
    return 1.0 - float(np.sum((t - p) ** 2)) / total


def mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute percentage error as a fraction (0.12 = 12 %).

    Rows whose true value is 0 are left out (their percentage error is infinite);
    NaN if every true value is 0.
    """
    t, p = _float_pair(y_true, y_pred)
    keep = t != 0
    if not np.any(keep):
        return math.nan
    return float(np.mean(np.abs((t[keep] - p[keep]) / t[keep])))


# ------------------------------------------------------------------------ helpers


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[IntArray, IntArray]:
    t = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(y_pred).astype(np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    return t, p


def _float_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[FloatArray, FloatArray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    return t, p


def _counts(t: IntArray, p: IntArray, k: int) -> tuple[int, int, int]:
    tp = int(np.sum((p == k) & (t == k)))
    fp = int(np.sum((p == k) & (t != k)))
    fn = int(np.sum((p != k) & (t == k)))
    return tp, fp, fn


def _precision_of(t: IntArray, p: IntArray, k: int) -> float:
    tp, fp, _ = _counts(t, p, k)
    return tp / (tp + fp) if tp + fp else 0.0


def _recall_of(t: IntArray, p: IntArray, k: int) -> float:
    tp, _, fn = _counts(t, p, k)
    return tp / (tp + fn) if tp + fn else 0.0


def _f1_of(t: IntArray, p: IntArray, k: int) -> float:
    tp, fp, fn = _counts(t, p, k)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _per_class(
    t: IntArray,
    p: IntArray,
    positive: int | None,
    fn: Callable[[IntArray, IntArray, int], float],
) -> float:
    if t.size == 0:
        return math.nan
    if positive is not None:
        return float(fn(t, p, positive))
    classes = np.union1d(t, p)
    return float(np.mean([fn(t, p, int(k)) for k in classes]))


def _binary_auc(t: IntArray, s: FloatArray) -> float:
    n_pos = int(np.sum(t == 1))
    n_neg = int(t.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(s)
    rank_sum = float(np.sum(ranks[t == 1]))
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Start index of each run of equal values.
    starts = np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))
    run_ids = np.cumsum(starts) - 1
    run_starts = np.flatnonzero(starts)
    run_ends = np.concatenate((run_starts[1:], [values.size]))
    avg = (run_starts + run_ends + 1) / 2.0  # mean of 1-based ranks start+1..end
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = avg[run_ids]
    return ranks


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> list[list[int]]:
    """Counts of (actual row, predicted column) pairs for class codes 0..n_classes-1."""
    t, p = _pair(y_true, y_pred)
    counts = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return [[int(c) for c in row] for row in counts.reshape(n_classes, n_classes)]


def per_class(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> list[dict[str, float]]:
    """Precision, recall, F1 and support of each class code 0..n_classes-1."""
    t, p = _pair(y_true, y_pred)
    return [
        {
            "precision": _precision_of(t, p, k),
            "recall": _recall_of(t, p, k),
            "f1": _f1_of(t, p, k),
            "support": float(np.sum(t == k)),
        }
        for k in range(n_classes)
    ]
