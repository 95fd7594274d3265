"""Task and metric choice from the target column and the user's overrides, with reasons."""

from __future__ import annotations

import pandas as pd
import pytest

from intentml.ml.errors import TrainingFailed
from intentml.ml.task import check_metric, check_task, choose_metric, encode_target


def _target(values: list[object], task: str | None = None, metric: str | None = None):  # type: ignore[no-untyped-def]
    return encode_target(pd.Series(values), "y", task, metric)


@pytest.mark.parametrize(
    ("values", "task", "reason"),
    [
        ([True, False] * 20, "binary", "exactly 2 distinct values"),
        (["a", "b", "c"] * 20, "multiclass", "text with 3 distinct values"),
        ([1, 2, 3, 4] * 20, "multiclass", "4 distinct whole numbers"),
        ([float(i) / 3 for i in range(60)], "regression", "numeric with 60 distinct values"),
        (list(range(60)), "regression", "numeric with 60 distinct values"),
    ],
)
def test_task_from_the_target(values: list[object], task: str, reason: str) -> None:
    target = _target(values)
    assert target.task == task
    assert reason in target.task_reason


def test_requested_task_wins_and_says_so() -> None:
    target = _target([1, 2, 3, 4] * 20, task="regression")
    assert target.task == "regression"
    assert target.task_reason == "set by the request's `task`"


def test_a_metric_implies_the_task() -> None:
    target = _target([1, 2, 3, 4] * 20, metric="rmse")
    assert target.task == "regression"
    assert "'rmse' is a regression metric" in target.task_reason


def test_binary_defaults_to_roc_auc_and_reports_the_balance() -> None:
    balanced = choose_metric(_target([0, 1] * 30), None)
    assert balanced.name == "roc_auc" and "balanced (50% / 50%)" in balanced.reason
    skewed = choose_metric(_target([0] * 95 + [1] * 5), None)
    assert skewed.name == "roc_auc" and "imbalanced (5% of rows" in skewed.reason


def test_multiclass_default_depends_on_balance() -> None:
    assert choose_metric(_target(["a", "b", "c"] * 30), None).name == "accuracy"
    imbalanced = choose_metric(_target(["a"] * 80 + ["b"] * 15 + ["c"] * 5), None)
    assert imbalanced.name == "f1"
    assert "macro F1" in imbalanced.reason


def test_regression_defaults_to_rmse() -> None:
    choice = choose_metric(_target([float(i) for i in range(50)]), None)
    assert choice.name == "rmse"


def test_requested_metric_is_kept() -> None:
    choice = choose_metric(_target([0, 1] * 30), "f1")
    assert (choice.name, choice.reason) == ("f1", "set by the request's `metric`")


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("AUC", "roc_auc"), ("f1_score", "f1"), ("F1", "f1"), ("logloss", "log_loss"), (" ", None)],
)
def test_metric_names(given: str, canonical: str | None) -> None:
    assert check_metric(given) == canonical


def test_unknown_metric_lists_the_known_ones() -> None:
    with pytest.raises(TrainingFailed) as info:
        check_metric("gini")
    assert info.value.code == "unknown_metric"
    for known in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "rmse", "mae"):
        assert known in info.value.message


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("Binary", "binary"), ("multi-class", "multiclass"), ("regressor", "regression"), ("", None)],
)
def test_task_names(given: str, canonical: str | None) -> None:
    assert check_task(given) == canonical


@pytest.mark.parametrize(
    ("values", "task", "code"),
    [
        ([1] * 30, None, "target_single_class"),
        (["a", "b", "c"] * 10, "binary", "task_mismatch"),
        (["a", "b"] * 10, "regression", "task_mismatch"),
        ([f"v{i}" for i in range(150)] * 2, None, "target_too_many_classes"),
        (pd.to_datetime(["2024-01-01", "2024-02-01"] * 10).tolist(), None, "target_unsupported"),
    ],
)
def test_targets_that_cannot_be_learned(values: list[object], task: str | None, code: str) -> None:
    with pytest.raises(TrainingFailed) as info:
        _target(values, task=task)
    assert info.value.code == code
