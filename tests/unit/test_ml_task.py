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


def _hinted(values: list[object], intent: str):  # type: ignore[no-untyped-def]
    from intentml.ml.question import read_question, task_hint

    hint = task_hint(read_question(intent))
    return encode_target(pd.Series(values), "y", None, None, hint), hint


def test_how_many_makes_few_whole_numbers_a_regression_on_counts() -> None:
    alone = _target([0, 1, 2, 3, 4] * 20)
    assert alone.task == "multiclass"
    target, _ = _hinted([0, 1, 2, 3, 4] * 20, "How many claims will this driver file?")
    assert target.task == "regression" and target.counts
    assert target.task_reason.startswith("'how many' asks for a count")


def test_a_hint_the_data_cannot_follow_is_said_and_ignored() -> None:
    target, _ = _hinted(["low", "mid", "high"] * 20, "How much will it cost?")
    assert target.task == "multiclass"
    assert "which 'y' cannot be" in target.task_reason
    negative, _ = _hinted([-2, -1, 0, 1, 2, 3.5] * 20, "How many degrees warmer?")
    assert negative.task == "regression" and not negative.counts


def test_a_risk_question_is_judged_by_log_loss_unless_a_metric_is_named() -> None:
    target, hint = _hinted([0, 1] * 30, "What is the risk of default?")
    assert choose_metric(target, None, hint).name == "log_loss"
    assert choose_metric(target, "f1", hint).name == "f1"
    regression, hint = _hinted([float(i) for i in range(60)], "What is the risk of loss?")
    assert choose_metric(regression, None, hint).name == "rmse"


def test_the_requested_task_outranks_the_sentence() -> None:
    from intentml.ml.question import read_question, task_hint

    hint = task_hint(read_question("How many claims?"))
    target = encode_target(pd.Series([0, 1, 2, 3, 4] * 20), "y", "multiclass", None, hint)
    assert target.task == "multiclass" and target.task_reason == "set by the request's `task`"
