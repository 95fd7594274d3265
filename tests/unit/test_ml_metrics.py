"""The numpy metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from intentml.ml import metrics as m


def test_accuracy() -> None:
    assert m.accuracy([0, 1, 1, 0], [0, 1, 0, 0]) == 0.75
    assert math.isnan(m.accuracy([], []))


def test_binary_precision_recall_f1() -> None:
    y, p = [1, 1, 1, 0, 0], [1, 0, 0, 0, 1]
    # tp = 1, fp = 1, fn = 2
    assert m.precision(y, p, positive=1) == 0.5
    assert m.recall(y, p, positive=1) == pytest.approx(1 / 3)
    assert m.f1(y, p, positive=1) == pytest.approx(0.4)


def test_never_predicting_the_positive_class_scores_zero() -> None:
    assert m.precision([1, 0], [0, 0], positive=1) == 0.0
    assert m.f1([1, 0], [0, 0], positive=1) == 0.0


def test_macro_averages() -> None:
    y, p = [0, 1, 2, 2], [0, 2, 2, 2]
    # class 0: P 1, R 1, F1 1 · class 1: P 0, R 0, F1 0 · class 2: P 2/3, R 1, F1 0.8
    assert m.precision(y, p) == pytest.approx(5 / 9)
    assert m.recall(y, p) == pytest.approx(2 / 3)
    assert m.f1(y, p) == pytest.approx(0.6)


def test_roc_auc() -> None:
    assert m.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # ties between a positive and a negative count half
    assert m.roc_auc([0, 0, 1, 1], [0.2, 0.5, 0.5, 0.9]) == pytest.approx(0.875)
    assert m.roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert m.roc_auc([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]) == 1.0
    assert math.isnan(m.roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))


def test_roc_auc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300), 2)  # rounding makes ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert m.roc_auc(y, s) == pytest.approx(pairs / (len(pos) * len(neg)))


def test_multiclass_roc_auc_is_one_vs_rest_mean() -> None:
    proba = np.eye(3)
    assert m.roc_auc([0, 1, 2], proba) == 1.0
    proba = np.array([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6], [0.1, 0.7, 0.2]])
    y = [0, 1, 2, 1]
    # class 0 vs rest: 1.0 · class 1: scores (.4, .7) vs (.3, .2) → 1.0 · class 2: 1.0
    assert m.roc_auc(y, proba) == 1.0


def test_log_loss() -> None:
    expected = -(math.log(0.8) + math.log(0.7)) / 2
    assert m.log_loss([1, 0], [0.8, 0.3]) == pytest.approx(expected)
    proba = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
    assert m.log_loss([0, 2], proba) == pytest.approx(-(math.log(0.7) + math.log(0.6)) / 2)
    # a confident wrong answer is large but finite
    assert 30 < m.log_loss([1], [0.0]) < 40


def test_regression_errors() -> None:
    y, p = [1, 2, 3], [1, 2, 5]
    assert m.rmse(y, p) == pytest.approx(math.sqrt(4 / 3))
    assert m.mae(y, p) == pytest.approx(2 / 3)
    assert m.r2(y, p) == pytest.approx(-1.0)  # 1 - 4 / 2
    assert m.r2([1, 2, 3], [1, 2, 3]) == 1.0
    assert math.isnan(m.r2([2, 2], [1, 3]))


def test_mape_skips_zero_truths() -> None:
    assert m.mape([100, 200, 0], [110, 180, 5]) == pytest.approx(0.1)
    assert math.isnan(m.mape([0, 0], [1, 2]))


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="3 values"):
        m.accuracy([0, 1, 1], [0, 1])


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("AUC", "roc_auc"),
        ("roc_auc", "roc_auc"),
        ("f1_score", "f1"),
        ("F1", "f1"),
        ("log-loss", "log_loss"),
        ("logloss", "log_loss"),
        ("R2", "r2"),
        (" rmse ", "rmse"),
        ("mape", "mape"),
        ("precision", "precision"),
        ("bogus", None),
    ],
)
def test_canonical_metric(name: str, canonical: str | None) -> None:
    assert m.canonical_metric(name) == canonical
