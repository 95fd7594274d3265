"""Output-field rules: what each named field carries, and which ones cannot be filled."""

from __future__ import annotations

import pytest

from intentml.ml.outputs import (
    Unfillable,
    default_plan,
    field_kind,
    plan_outputs,
    possible_tasks,
    unfillable_everywhere,
)

COLUMNS = ["usage_minutes", "plan_type", "monthly_revenue", "churned"]


@pytest.mark.parametrize(
    ("field", "binary", "multiclass", "regression"),
    [
        ("probabilities", "probabilities", "probabilities", None),
        ("class_probabilities", "probabilities", "probabilities", None),
        ("risk_level", "risk_level", None, None),
        ("churn_risk_band", "risk_level", None, None),
        ("confidence", "confidence", "confidence", None),
        ("churned", "label", "label", "value"),
        ("Churn", "label", "label", "value"),
        ("is_churn", "label", "label", "value"),
        ("churn_probability", "probability", "confidence", None),
        ("score", "probability", "confidence", None),
        ("churn_prediction", "label", "label", "value"),
        ("predicted_label", "label", "label", "value"),
        ("will_leave", "label", "label", "value"),
        ("monthly_revenue", None, None, None),
        ("MonthlyRevenue", None, None, None),
    ],
)
def test_field_kinds(
    field: str, binary: str | None, multiclass: str | None, regression: str | None
) -> None:
    for task, expected in (
        ("binary", binary),
        ("multiclass", multiclass),
        ("regression", regression),
    ):
        kind = field_kind(field, "churned", task, COLUMNS)
        if expected is None:
            assert isinstance(kind, Unfillable), (field, task, kind)
            assert kind.field == field and kind.reason
        else:
            assert kind == expected, (field, task)


def test_an_input_column_is_refused_with_the_reason() -> None:
    kind = field_kind("usage_minutes", "churned", "binary", COLUMNS)
    assert isinstance(kind, Unfillable)
    assert "'usage_minutes' is a column of the data, an input" in kind.reason


def test_default_plans() -> None:
    assert default_plan("churned", "binary") == [
        ("churned_probability", "probability"),
        ("churned", "label"),
    ]
    assert default_plan("segment", "multiclass") == [
        ("segment", "label"),
        ("probabilities", "probabilities"),
    ]
    assert default_plan("price", "regression") == [("price", "value")]
    assert plan_outputs([], "price", "regression") == [("price", "value")]


def test_plan_names_every_unfillable_field() -> None:
    with pytest.raises(ValueError) as info:
        plan_outputs(["price", "price_probability", "risk_level"], "price", "regression", COLUMNS)
    message = str(info.value)
    assert "'price_probability': a regression predicts a number" in message
    assert "'risk_level': a risk level is derived" in message


def test_plan_in_order() -> None:
    assert plan_outputs(["risk_level", "churned", "churn_score"], "churned", "binary") == [
        ("risk_level", "risk_level"),
        ("churned", "label"),
        ("churn_score", "probability"),
    ]


@pytest.mark.parametrize(
    ("column_type", "task", "metric_is_regression", "expected"),
    [
        ("integer", None, None, ["binary", "multiclass", "regression"]),
        ("number", None, True, ["regression"]),
        ("number", None, False, ["binary", "multiclass"]),
        ("string", None, None, ["binary", "multiclass"]),
        ("boolean", None, None, ["binary"]),
        ("integer", "regression", None, ["regression"]),
        ("integer", "classification", None, ["binary", "multiclass"]),
    ],
)
def test_possible_tasks(
    column_type: str, task: str | None, metric_is_regression: bool | None, expected: list[str]
) -> None:
    assert possible_tasks(column_type, task, metric_is_regression) == expected


def test_refused_at_create_only_when_no_task_fills_it() -> None:
    # An integer target may still become classes: a probability field may be filled.
    assert unfillable_everywhere(["churn_probability"], "churned", ["binary", "regression"]) == []
    refused = unfillable_everywhere(
        ["churn_probability", "churned", "plan_type"], "churned", ["regression"], COLUMNS
    )
    assert [r.field for r in refused] == ["churn_probability", "plan_type"]
