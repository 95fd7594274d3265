"""The learning problem: the target's encoding, the task and the metric, each with its reason.

Pure functions over the target column and the user's overrides; the reasons end up in
the build log and in `describe`, so every choice the platform makes is explained.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pandas as pd

from intentml.ml import metrics as m
from intentml.ml.datasets import column_type
from intentml.ml.errors import TrainingFailed
from intentml.ml.question import TaskHint
from intentml.ml.text import fmt, preview

#: Integer targets with at most this many values (and enough rows per value) are classes.
MAX_INTEGER_CLASSES = 20
#: A string target with more distinct values than this is not a sensible classifier.
MAX_CLASSES = 100
#: Rows needed per class on average before a numeric target is treated as classes.
MIN_ROWS_PER_CLASS = 5
#: Rows a class needs to be learned and tested: the held-out 20 % then gets 2 of them,
#: and each of the 5 stratified cross-validation folds sees at least one. With fewer,
#: the test rows may hold none of the class, and the scores say nothing about it.
MIN_CLASS_ROWS = 10
#: A binary target whose rarer class has less than this share of the rows is imbalanced.
IMBALANCED_SHARE = 0.2
#: A multiclass target is imbalanced when a class has less than this part of its fair share.
IMBALANCED_FAIR_SHARE = 0.5

TASKS = ("binary", "multiclass", "regression")
_TASK_ALIASES = {
    "binary_classification": "binary",
    "multiclass_classification": "multiclass",
    "multi_class": "multiclass",
    "multiclass": "multiclass",
    "classification": "classification",
    "classifier": "classification",
    "regression": "regression",
    "regressor": "regression",
    "binary": "binary",
}
_POSITIVE_LABELS = frozenset(["yes", "y", "true", "t", "1", "positive", "pos"])
_NEGATIVE_LABELS = frozenset(["no", "n", "false", "f", "0", "negative", "neg"])
_TASK_WORDS = {
    "binary": "binary classification",
    "multiclass": "multiclass classification",
    "regression": "regression",
}


class Target(msgspec.Struct, frozen=True):
    """The target column encoded for LightGBM, and the task chosen for it."""

    task: str
    values: npt.NDArray[np.float64]  # class codes for classifiers, numbers for regression
    classes: list[str]
    positive_class: str | None
    target_type: str
    task_reason: str = ""
    #: A regression of whole numbers from zero up that the sentence calls a count.
    counts: bool = False


class TargetFacts(msgspec.Struct, frozen=True):
    """What the task is decided from: the target column's type and values, summed up
    (from the data at build time, or from the upload's profile for a plan)."""

    name: str
    kind: str
    n_distinct: int
    n_rows: int
    #: Numbers that can be regressed (not booleans).
    numeric: bool
    #: Whole numbers (or booleans): they can also be read as classes.
    integral: bool
    #: The one value of a target with one (as the error quotes it).
    only_value: str | None = None


class MetricChoice(msgspec.Struct, frozen=True):
    """The metric a model is judged and selected by, and why it was chosen."""

    name: str
    reason: str


def check_metric(metric: str | None) -> str | None:
    """The canonical name of a user's `metric` (None: not given); raises
    `TrainingFailed("unknown_metric")` listing the known ones."""
    if metric is None or not metric.strip():
        return None
    canonical = m.canonical_metric(metric)
    if canonical is None:
        known = ", ".join((*m.CLASSIFICATION_METRICS, *m.REGRESSION_METRICS))
        raise TrainingFailed(
            "unknown_metric",
            f"unknown metric '{metric}'; use one of {known}, or leave it empty for the default",
        )
    return canonical


def check_task(task: str | None) -> str | None:
    """The canonical task a user's `task` names (None: decide from the target); raises
    `TrainingFailed("unknown_task")` for anything else."""
    if task is None or not task.strip():
        return None
    key = task.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in _TASK_ALIASES:
        raise TrainingFailed(
            "unknown_task",
            f"unknown task '{task}'; use binary, multiclass or regression, or leave it empty "
            "to decide from the target column",
        )
    return _TASK_ALIASES[key]


def encode_target(
    series: pd.Series[Any],
    name: str,
    task_request: str | None,
    metric: str | None,
    hint: TaskHint | None = None,
) -> Target:
    """Decide the task for the target column and encode its values (class codes, with the
    positive class last for binary); raises `TrainingFailed` when it cannot be learned.

    `hint` is what the sentence asks for (`intentml.ml.question`): followed when the
    data allows it, after the request's own `task` and `metric`."""
    kind = column_type(series)
    distinct = _sorted_uniques(series, kind)
    numeric = kind in ("integer", "number")  # regressing a yes/no column makes no sense
    integral = kind in ("integer", "boolean") or (
        kind == "number" and all(float(v).is_integer() for v in distinct)
    )
    only = repr(distinct[0]) if len(distinct) == 1 else None
    facts = TargetFacts(name, kind, len(distinct), len(series), numeric, integral, only)
    task, reason = decide_task(facts, task_request, metric, hint)

    if task == "regression":
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        counts = bool(hint and hint.counts and integral and float(np.nanmin(values)) >= 0)
        return Target(task, values, [], None, kind, reason, counts=counts)

    labels = [_label_text(v) for v in distinct]
    if task == "binary":
        positive = _positive_index(series, distinct, labels, kind)
        order = [1 - positive, positive]
        distinct = [distinct[i] for i in order]
        labels = [labels[i] for i in order]
    codes = pd.Categorical(series, categories=distinct).codes.astype(np.float64)
    return Target(
        task,
        codes,
        labels,
        labels[1] if task == "binary" else None,
        kind,
        reason,
    )


def decide_task(
    facts: TargetFacts,
    requested: str | None,
    metric: str | None = None,
    hint: TaskHint | None = None,
) -> tuple[str, str]:
    """The task for a target and why: the request's `task`, else the data, nudged by
    what the sentence asks for when the data allows it, then by the request's `metric`.
    Raises `TrainingFailed` for a target that cannot be learned, or a requested task or
    metric it cannot have."""
    _check_learnable(facts)
    if requested is not None:
        task, reason = _requested_task(facts, requested), "set by the request's `task`"
    else:
        task, reason = _hinted_task(facts, hint)
    reconciled = _reconcile_metric(facts, task, metric, requested)
    if reconciled != task:
        return reconciled, f"the metric '{metric}' is a {_TASK_WORDS[reconciled]} metric"
    return task, reason


def _check_learnable(facts: TargetFacts) -> None:
    if facts.kind in ("date", "datetime"):
        raise TrainingFailed(
            "target_unsupported",
            f"the target '{facts.name}' holds {facts.kind}s, which cannot be predicted; choose "
            "a numeric, boolean or text column as the target",
        )
    if facts.n_distinct < 2:
        raise TrainingFailed(
            "target_single_class",
            f"every row has the same value for '{facts.name}' ({facts.only_value}); the model "
            "would have nothing to learn. Upload data that includes other outcomes, or pick "
            "another target",
        )


def _hinted_task(facts: TargetFacts, hint: TaskHint | None) -> tuple[str, str]:
    task, reason = _task_from_data(facts)
    if hint is None or hint.task is None:
        return task, reason
    if hint.task == task or (hint.task == "multiclass" and task == "binary"):
        return task, f"{hint.task_reason}; {reason}"
    if _hint_fits(facts, hint.task):
        return hint.task, f"{hint.task_reason} ('{facts.name}' also fits {_TASK_WORDS[task]})"
    return task, f"{reason} (the sentence: {hint.task_reason}, which '{facts.name}' cannot be)"


def _requested_task(facts: TargetFacts, requested: str) -> str:
    name, n_distinct = facts.name, facts.n_distinct
    if requested == "classification":
        requested = "binary" if n_distinct == 2 else "multiclass"
    if requested == "binary" and n_distinct != 2:
        raise TrainingFailed(
            "task_mismatch",
            f"binary classification needs exactly 2 distinct target values but '{name}' has "
            f"{n_distinct}; use task multiclass or regression, or leave the task empty",
        )
    if requested == "regression" and not facts.numeric:
        raise TrainingFailed(
            "task_mismatch",
            f"regression needs a numeric target but '{name}' holds {facts.kind} values; use a "
            "classification task or leave the task empty",
        )
    if requested == "multiclass" and n_distinct > MAX_CLASSES:
        raise _too_many_classes(name, n_distinct)
    return requested


def _task_from_data(facts: TargetFacts) -> tuple[str, str]:
    name, n_distinct = facts.name, facts.n_distinct
    if n_distinct == 2:
        return "binary", f"'{name}' has exactly 2 distinct values"
    if facts.kind == "string":
        if n_distinct > MAX_CLASSES or n_distinct * MIN_ROWS_PER_CLASS > facts.n_rows:
            raise _too_many_classes(name, n_distinct)
        return "multiclass", f"'{name}' holds text with {n_distinct} distinct values"
    if (
        facts.integral
        and n_distinct <= MAX_INTEGER_CLASSES
        and n_distinct * MIN_ROWS_PER_CLASS <= facts.n_rows
    ):
        return "multiclass", (
            f"'{name}' holds {n_distinct} distinct whole numbers "
            f"(at most {MAX_INTEGER_CLASSES} are read as classes)"
        )
    return "regression", (
        f"'{name}' is numeric with {n_distinct:,} distinct values"
        if facts.numeric
        else f"'{name}' is numeric"
    )


def _hint_fits(facts: TargetFacts, task: str) -> bool:
    """Whether the target's data can be trained as the sentence's task."""
    if task == "regression":
        return facts.numeric and facts.n_distinct > 2
    if task == "multiclass":
        return (
            (facts.integral or facts.kind == "string")
            and 2 < facts.n_distinct <= MAX_CLASSES
            and facts.n_distinct * MIN_ROWS_PER_CLASS <= facts.n_rows
        )
    return facts.n_distinct == 2


def _reconcile_metric(
    facts: TargetFacts, task: str, metric: str | None, requested: str | None
) -> str:
    """A requested metric implies a kind of task; follow it when the target allows."""
    if metric is None:
        return task
    wants_regression = metric in m.REGRESSION_METRICS
    if wants_regression == (task == "regression"):
        return task
    if requested is None and wants_regression and facts.numeric:
        return "regression"
    if (
        requested is None
        and not wants_regression
        and facts.integral
        and facts.n_distinct <= MAX_CLASSES
    ):
        return "binary" if facts.n_distinct == 2 else "multiclass"
    kind = "regression" if wants_regression else "classification"
    raise TrainingFailed(
        "metric_not_applicable",
        f"the metric '{metric}' is for {kind}, but '{facts.name}' is trained as "
        f"{_TASK_WORDS[task]}; choose a {_TASK_WORDS[task]} metric or leave the metric empty",
    )


def _metric_fits(metric: str, task: str) -> bool:
    return (metric in m.REGRESSION_METRICS) == (task == "regression")


def _too_many_classes(name: str, n_distinct: int) -> TrainingFailed:
    return TrainingFailed(
        "target_too_many_classes",
        f"'{name}' has {n_distinct} distinct values, too many to predict as classes with "
        f"this much data (at most {MAX_CLASSES}, with {MIN_ROWS_PER_CLASS}+ rows each); pick "
        "another target or group the values into fewer classes",
    )


def _sorted_uniques(series: pd.Series[Any], kind: str) -> list[Any]:
    values = series.dropna().unique().tolist()
    if kind in ("integer", "number", "boolean"):
        return sorted(values)
    return sorted(values, key=str)


def _label_text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _positive_index(
    series: pd.Series[Any], distinct: list[Any], labels: list[str], kind: str
) -> int:
    """Which of the two classes is "positive" (the event whose probability we report)."""
    if kind in ("integer", "number", "boolean"):
        return 1  # True, 1, or the larger number
    lowered = [label.strip().lower() for label in labels]
    positives = [i for i, label in enumerate(lowered) if label in _POSITIVE_LABELS]
    if len(positives) == 1:
        return positives[0]
    negatives = [i for i, label in enumerate(lowered) if label in _NEGATIVE_LABELS]
    if len(negatives) == 1:
        return 1 - negatives[0]
    # Otherwise the rarer outcome is usually the event of interest (churn, fraud).
    counts = series.value_counts()
    first, second = int(counts[distinct[0]]), int(counts[distinct[1]])
    return 0 if first < second else 1


def check_class_rows(name: str, target: Target) -> list[str]:
    """The rule for classes with fewer than `MIN_CLASS_ROWS` rows: with two classes the
    rarer one is the point of the model, so the build fails (`target_class_too_rare`,
    naming the counts); with more, the rare classes are a warning (returned) and the
    others are still learned."""
    if target.task == "regression":
        return []
    counts = np.bincount(target.values.astype(np.int64), minlength=len(target.classes))
    rare = [(label, int(c)) for label, c in zip(target.classes, counts, strict=True)]
    rare = sorted((lc for lc in rare if lc[1] < MIN_CLASS_ROWS), key=lambda lc: lc[1])
    if not rare:
        return []
    listed = ", ".join(f"'{label}' ({n} row{'' if n == 1 else 's'})" for label, n in rare)
    if len(target.classes) == 2:
        found = " and ".join(
            f"{int(c):,} row{'' if c == 1 else 's'} of '{label}'"
            for label, c in sorted(zip(target.classes, counts, strict=True), key=lambda x: -x[1])
        )
        raise TrainingFailed(
            "target_class_too_rare",
            f"'{name}' has {found}: at least {MIN_CLASS_ROWS} rows of each class are needed "
            "to learn the rarer one and to test the model on it (with fewer, a model that "
            "always answers the common class would look perfect). Upload more rows of "
            f"{' and '.join(repr(label) for label, _ in rare)}, or pick another target",
        )
    return [
        f"classes of '{name}' with fewer than {MIN_CLASS_ROWS} rows: {listed}; the model will "
        "rarely predict them and their test scores are not reliable. Upload more rows of "
        "them, or merge them into other classes"
    ]


def describe_target(name: str, target: Target) -> str:
    """The build-log line saying what the task is and what the target looks like."""
    if target.task == "regression":
        values = target.values
        return (
            f"task: regression of '{name}' (from {fmt(float(values.min()))} to "
            f"{fmt(float(values.max()))}, mean {fmt(float(values.mean()))})"
        )
    counts = np.bincount(target.values.astype(np.int64), minlength=len(target.classes))
    if target.task == "binary":
        share = counts[1] / counts.sum()
        return (
            f"task: binary classification of '{name}'; positive class "
            f"'{target.positive_class}' in {share:.0%} of rows"
        )
    return (
        f"task: multiclass classification of '{name}' into {len(target.classes)} classes: "
        + preview(target.classes)
    )


def choose_metric(
    target: Target, requested: str | None, hint: TaskHint | None = None
) -> MetricChoice:
    """The metric a build judges `target` by (`metric_for`, with the class shares)."""
    shares: list[float] | None = None
    if target.task != "regression":
        counts = np.bincount(target.values.astype(np.int64), minlength=len(target.classes))
        shares = (counts / max(1, counts.sum())).tolist()
    return metric_for(target.task, requested, hint, shares)


def metric_for(
    task: str, requested: str | None, hint: TaskHint | None, shares: list[float] | None
) -> MetricChoice:
    """The requested metric, else the sentence's (when it fits the task), else the
    default for the task and its class balance (`shares` of the rows per class; None
    when not known yet, as in a plan: the default is then said with its condition)."""
    if requested is not None:
        return MetricChoice(requested, "set by the request's `metric`")
    if hint is not None and hint.metric is not None and _metric_fits(hint.metric, task):
        return MetricChoice(hint.metric, hint.metric_reason)
    if task == "regression":
        return MetricChoice(
            "rmse", "regression default: root mean squared error, in the target's own units"
        )
    rarest = min(shares) if shares else None
    if task == "binary":
        balance = ""
        if rarest is not None:
            balance = (
                f"; the classes are imbalanced ({rarest:.0%} of rows are the rarer one)"
                if rarest < IMBALANCED_SHARE
                else f"; the classes are balanced ({rarest:.0%} / {1 - rarest:.0%})"
            )
        return MetricChoice(
            "roc_auc",
            f"binary default: ROC AUC ranks the cases regardless of a decision threshold{balance}",
        )
    if rarest is None or shares is None:
        return MetricChoice(
            "accuracy",
            "multiclass default: accuracy, or macro F1 if the build finds a class with under "
            f"{IMBALANCED_FAIR_SHARE:.0%} of its fair share of rows",
        )
    if rarest < IMBALANCED_FAIR_SHARE / len(shares):
        return MetricChoice(
            "f1",
            f"multiclass with imbalanced classes (the rarest is {rarest:.1%} of rows): macro F1 "
            "weighs every class equally, where accuracy would reward ignoring the rare ones",
        )
    return MetricChoice(
        "accuracy", f"multiclass with balanced classes (the rarest is {rarest:.0%} of rows)"
    )
