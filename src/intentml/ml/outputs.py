"""The rules that fill a model's output fields from its prediction (pure, no I/O).

A user may name the result fields with `output_schema`; each name is read as one
kind, first match wins (the README's "Output fields" table says the same):

1. `probabilities`, `*_probabilities`: class → probability (not for regression).
2. `risk_level`, `risk_band`, `risk_tier`, `risk_category`, `risk_bucket` (alone
   or as a suffix): low / medium / high from the positive-class probability
   (binary only).
3. `confidence`, `*_confidence`: probability of the predicted class (classifiers).
4. the target's own name (`churned`, `is_churn`, `Churn`): the prediction.
5. `probability`, `score`, `likelihood`, ... or `*_probability`, `*_prob`,
   `*_proba`, `*_score`, `*_likelihood`, `*_chance`, `*_propensity`: the
   positive-class probability (binary), the confidence (multiclass); not for
   regression.
6. `*_label`, `*_class`, `*_prediction`, `*_pred`, `*_value`, `*_estimate`, ...:
   the prediction.
7. another column of the training data: refused, it is an input.
8. any other name (`will_leave`): the prediction itself.

With no `output_schema`: binary → `<target>_probability` and `<target>`; multiclass →
`<target>` and `probabilities`; regression → `<target>`.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from intentml.ml.target import name_key

TASKS = ("binary", "multiclass", "regression")

PROBABILITY_SUFFIXES = (
    "_probability",
    "_prob",
    "_proba",
    "_score",
    "_likelihood",
    "_chance",
    "_propensity",
)
PROBABILITY_NAMES = frozenset({"probability", "prob", "score", "likelihood", "propensity"})
LABEL_SUFFIXES = (
    "_label",
    "_class",
    "_prediction",
    "_predicted",
    "_pred",
    "_category",
    "_value",
    "_estimate",
    "_forecast",
)
RISK_NAMES = frozenset({"risk_level", "risk_band", "risk_tier", "risk_category", "risk_bucket"})


class Unfillable(msgspec.Struct, frozen=True):
    """An output field a model of some task cannot fill, and why."""

    field: str
    reason: str


def default_plan(target: str, task: str) -> list[tuple[str, str]]:
    """(field, kind) of the outputs when the user named none."""
    if task == "binary":
        return [(f"{target}_probability", "probability"), (target, "label")]
    if task == "multiclass":
        return [(target, "label"), ("probabilities", "probabilities")]
    return [(target, "value")]


def field_kind(field: str, target: str, task: str, inputs: Iterable[str] = ()) -> str | Unfillable:
    """What `field` carries for a model of `task` predicting `target`, or why it cannot.

    `inputs` are the other columns of the training data: naming one as an output is
    a mistake (it is what the model reads, not what it predicts).
    """
    lowered = field.lower()
    primary = "value" if task == "regression" else "label"
    if lowered == "probabilities" or lowered.endswith("_probabilities"):
        if task == "regression":
            return Unfillable(field, "a regression predicts a number, not class probabilities")
        return "probabilities"
    if is_risk_field(field):
        if task != "binary":
            return Unfillable(
                field,
                "a risk level is derived from the probability of a yes/no outcome; "
                f"this target is trained as {task}",
            )
        return "risk_level"
    if lowered == "confidence" or lowered.endswith("_confidence"):
        if task == "regression":
            return Unfillable(field, "a regression has no class to be confident about")
        return "confidence"
    target_key = name_key(target)
    if name_key(field) == target_key:
        return primary
    if lowered in PROBABILITY_NAMES or lowered.endswith(PROBABILITY_SUFFIXES):
        if task == "regression":
            return Unfillable(field, "a regression predicts a number, not a probability")
        return "probability" if task == "binary" else "confidence"
    if lowered.endswith(LABEL_SUFFIXES):
        return primary
    column = next(
        (c for c in inputs if c != target and (c == field or name_key(c) == name_key(field))),
        None,
    )
    if column is not None:
        return Unfillable(
            field,
            f"'{column}' is a column of the data, an input the model reads; an output field "
            f"carries the prediction of '{target}'",
        )
    # A name we cannot place carries the prediction itself: what a user naming a
    # single output ("will_leave") means.
    return primary


def is_risk_field(field: str) -> bool:
    """Whether `field` names a risk bucket (`risk_level`, `churn_risk_band`, ...)."""
    lowered = field.lower()
    return lowered in RISK_NAMES or lowered.endswith(tuple("_" + r for r in RISK_NAMES))


def plan_outputs(
    fields: list[str], target: str, task: str, inputs: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """(field, kind) for every output field a new build fills; raises `ValueError`
    naming unfillable ones. (A stored artifact's fields, which older builds may not
    have checked: `intentml.ml.serving.outputs.served_outputs`.)"""
    if not fields:
        return default_plan(target, task)
    columns = list(inputs)
    kinds = [field_kind(f, target, task, columns) for f in fields]
    problems = [k for k in kinds if isinstance(k, Unfillable)]
    if problems:
        raise ValueError("; ".join(f"'{p.field}': {p.reason}" for p in problems))
    return [(f, k) for f, k in zip(fields, kinds, strict=True) if isinstance(k, str)]


def unfillable_everywhere(
    fields: list[str], target: str, tasks: Iterable[str], inputs: Iterable[str] = ()
) -> list[Unfillable]:
    """The fields no model of any of `tasks` could fill (one reason each).

    At create time the task may not be settled yet (a whole-number target can become
    classes or a regression); a field is refused only when no possible task fills it.
    """
    columns = list(inputs)
    possible = list(tasks)
    refused: list[Unfillable] = []
    for field in fields:
        kinds = [field_kind(field, target, task, columns) for task in possible]
        if kinds and all(isinstance(k, Unfillable) for k in kinds):
            first = kinds[0]
            assert isinstance(first, Unfillable)
            refused.append(first)
    return refused


def possible_tasks(
    column_type: str, task: str | None, metric_is_regression: bool | None
) -> list[str]:
    """The tasks a target of `column_type` may be trained as, given the request."""
    if task in TASKS:
        return [task]
    if task == "classification":
        return ["binary", "multiclass"]
    if metric_is_regression is True:
        return ["regression"]
    classes = ["binary", "multiclass"]
    if column_type == "boolean":
        return ["binary"]
    if column_type == "string":
        return classes
    if metric_is_regression is False:
        return classes
    return [*classes, "regression"]
