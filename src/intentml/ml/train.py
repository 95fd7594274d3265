"""Training: dataset file + target → a LightGBM model artifact and its evaluation.

The recipe is fixed and deterministic for a given seed: drop unusable columns,
encode every input as float64 the same way serving will, hold out 20 % of the rows
as a test set the model never sees until its final score, early-stop on a
validation split of the rest, then refit on all rows with the chosen number of
rounds. The artifact is written to a temporary sibling directory and renamed into
place, so a reader never sees half of it.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import msgspec
import numpy as np
import numpy.typing as npt
import pandas as pd

from intentml.ml import metrics as m
from intentml.ml.datasets import DatasetError, column_type, parse_iso_datetimes, read_dataset
from intentml.ml.serving import (
    META_FILE,
    MODEL_FILE,
    FeatureSpec,
    LoadedModel,
    ModelMeta,
    expanded_columns,
    matrix_layout,
)
from intentml.ml.target import name_tokens

Progress = Callable[[int, str], None]
FloatMatrix = npt.NDArray[np.float64]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MIN_ROWS = 20
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.2
#: A build-log line (and a progress step) every this many boosting rounds.
LOG_EVERY_ROUNDS = 25
MAX_ROUNDS = 1000
EARLY_STOPPING_ROUNDS = 50
#: Integer targets with at most this many values (and enough rows per value) are classes.
MAX_INTEGER_CLASSES = 20
#: A string target with more distinct values than this is not a sensible classifier.
MAX_CLASSES = 100
#: Rows needed per class on average before a numeric target is treated as classes.
MIN_ROWS_PER_CLASS = 5
MAX_MISSING_FRACTION = 0.95
#: Only the most frequent category values get a code; rarer ones count as missing.
MAX_CATEGORIES = 1000
#: Above this many rows the early-stopped model is kept instead of refitting on all rows.
REFIT_MAX_ROWS = 2_000_000

_TASKS = ("binary", "multiclass", "regression")
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
_DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}
_ID_TOKENS = _words("id ids uuid guid key index idx rowid row num no ref")
_POSITIVE_LABELS = _words("yes y true t 1 positive pos")
_NEGATIVE_LABELS = _words("no n false f 0 negative neg")
_TASK_WORDS = {
    "binary": "binary classification",
    "multiclass": "multiclass classification",
    "regression": "regression",
}


class TrainingSpec(msgspec.Struct, frozen=True):
    """What to train: the target column, the user's intent and optional overrides."""

    target: str
    intent: str = ""
    metric: str | None = None
    task: str | None = None
    output_fields: list[str] = msgspec.field(default_factory=list)
    seed: int = 7


class TrainingResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a successful training run (the artifact is already written)."""

    task: str
    metric_name: str
    metric_value: float
    metrics: dict[str, float]
    #: Share of the total split gain per input column (sums to 1 unless no splits).
    feature_importance: dict[str, float]
    features: list[str]
    dropped_columns: dict[str, str]
    rows_used: int
    training_seconds: float
    best_iteration: int = 0
    input_schema: dict[str, Any] = msgspec.field(default_factory=dict)
    output_schema: dict[str, Any] = msgspec.field(default_factory=dict)


class TrainingFailed(Exception):
    """Training cannot produce a model; `code` is machine-readable, the message says why
    and what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Target(msgspec.Struct, frozen=True):
    task: str
    values: npt.NDArray[np.float64]  # class codes for classifiers, numbers for regression
    classes: list[str]
    positive_class: str | None
    target_type: str


def train(
    dataset_path: Path,
    fmt: str,
    spec: TrainingSpec,
    artifact_dir: Path,
    progress: Progress | None = None,
) -> TrainingResult:
    """Train a model for `spec` on the dataset and write its artifact to `artifact_dir`.

    `progress(percent, line)` receives build-log lines as training advances. Raises
    `TrainingFailed` (with a `code`) for every problem a user can fix: unreadable data,
    missing target, too few rows, a single class, an unknown metric or task.
    """
    started = time.perf_counter()

    def report(percent: int, line: str) -> None:
        if progress is not None:
            progress(percent, line)

    metric_request = _check_metric(spec.metric)
    task_request = check_task(spec.task)

    try:
        df = read_dataset(dataset_path, fmt)
    except DatasetError as exc:
        raise TrainingFailed("dataset_invalid", f"the dataset cannot be read: {exc}") from exc
    report(10, f"loaded {len(df):,} rows × {len(df.columns)} columns")  # noqa: RUF001

    if spec.target not in df.columns:
        raise TrainingFailed(
            "target_missing",
            f"the target column '{spec.target}' is not in the dataset; set `target` to one of: "
            + ", ".join(map(str, df.columns[:30])),
        )
    has_target = df[spec.target].notna().to_numpy(dtype=bool)
    missing = int((~has_target).sum())
    if missing:
        df = df.loc[has_target].reset_index(drop=True)
        report(10, f"dropped {missing:,} rows with no value for '{spec.target}'")
    if len(df) < MIN_ROWS:
        raise TrainingFailed(
            "too_few_rows",
            f"only {len(df)} rows have a value for '{spec.target}'; at least {MIN_ROWS} are "
            "needed (and a few hundred for a useful model): upload more data",
        )

    target = _encode_target(df[spec.target], spec.target, task_request, metric_request)
    report(20, _describe_target(spec.target, target))

    inputs, dropped = _plan_features(df, spec.target)
    for column, why in dropped.items():
        report(20, f"dropped column '{column}': {why}")
    if not inputs:
        raise TrainingFailed(
            "no_features",
            "no column besides the target can be used as an input (see the dropped columns); "
            "upload data with at least one informative column",
        )
    matrix = build_matrix(df, inputs)
    columns, categorical = matrix_layout(inputs)
    report(
        20,
        f"using {len(inputs)} input fields ({len(columns)} features): "
        + _preview([s.name for s in inputs]),
    )

    y = target.values
    rng = np.random.default_rng(spec.seed)
    strata = y.astype(np.int64) if target.task != "regression" else None
    rest, test = _split(len(y), TEST_FRACTION, strata, rng)
    fit_idx, val_local = _split(
        len(rest), VALIDATION_FRACTION, None if strata is None else strata[rest], rng
    )
    fit, val = rest[fit_idx], rest[val_local]
    report(
        30,
        f"training on {len(fit):,} rows, validating on {len(val):,}, "
        f"holding out {len(test):,} for the test",
    )

    params = _params(target, len(fit), spec.seed, has_auc=_two_classes(y[val], target.task))
    feature_names = _feature_names(columns)
    booster, best_iteration, validation_line = _fit_early_stopped(
        params, matrix, y, fit, val, feature_names, categorical, report
    )
    report(80, validation_line)

    scores = _evaluate(
        target, y[test], np.asarray(booster.predict(matrix[test], num_iteration=best_iteration))
    )
    metric_name, metric_value, note = _primary_metric(target.task, metric_request, scores)
    if note:
        report(90, note)
    report(90, f"test {metric_name} {_fmt(metric_value)} on {len(test):,} held-out rows")

    if len(y) <= REFIT_MAX_ROWS:
        # The held-out score describes this recipe; the served model also learns from
        # the validation and test rows, with the number of rounds early stopping chose.
        try:
            final = lgb.train(
                params,
                _dataset(matrix, y, np.arange(len(y)), feature_names, categorical, params),
                num_boost_round=best_iteration,
            )
        except lgb.basic.LightGBMError as exc:
            raise TrainingFailed("training_error", f"LightGBM could not train: {exc}") from exc
        report(95, f"refit on all {len(y):,} rows with {best_iteration} rounds")
    else:
        final = booster

    importance = _importance(final, inputs, best_iteration if final is booster else None)
    meta = ModelMeta(
        task=target.task,
        target=spec.target,
        target_type=target.target_type,
        classes=target.classes,
        positive_class=target.positive_class,
        inputs=inputs,
        ignored_columns=list(dropped),
        output_fields=list(spec.output_fields),
        metric_name=metric_name,
        metric_value=metric_value,
        metrics=scores,
        matrix_columns=columns,
        best_iteration=best_iteration,
        rows_used=len(y),
        intent=spec.intent,
        lightgbm_version=lgb.__version__,
        sample_input=_sample_input(df, inputs),
    )
    _write_artifact(artifact_dir, final, meta, best_iteration if final is booster else None)
    served = LoadedModel(meta, final)
    report(100, f"saved model: {best_iteration} boosting rounds on {len(inputs)} input fields")
    return TrainingResult(
        task=target.task,
        metric_name=metric_name,
        metric_value=metric_value,
        metrics=scores,
        feature_importance=importance,
        features=[s.name for s in inputs],
        dropped_columns=dropped,
        rows_used=len(y),
        training_seconds=round(time.perf_counter() - started, 3),
        best_iteration=best_iteration,
        input_schema=served.input_schema(),
        output_schema=served.output_schema(),
    )


# ------------------------------------------------------------------------ requests


def _check_metric(metric: str | None) -> str | None:
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


# -------------------------------------------------------------------------- target


def _encode_target(
    series: pd.Series[Any], name: str, task_request: str | None, metric: str | None
) -> _Target:
    kind = column_type(series)
    if kind in ("date", "datetime"):
        raise TrainingFailed(
            "target_unsupported",
            f"the target '{name}' holds {kind}s, which cannot be predicted; choose a numeric, "
            "boolean or text column as the target",
        )
    distinct = _sorted_uniques(series, kind)
    if len(distinct) < 2:
        value = distinct[0] if distinct else None
        raise TrainingFailed(
            "target_single_class",
            f"every row has the same value for '{name}' ({value!r}); the model would have "
            "nothing to learn. Upload data that includes other outcomes, or pick another target",
        )
    numeric = kind in ("integer", "number")  # regressing a yes/no column makes no sense
    integral = kind in ("integer", "boolean") or (
        kind == "number" and all(float(v).is_integer() for v in distinct)
    )
    task = _decide_task(name, kind, len(distinct), len(series), numeric, integral, task_request)
    task = _reconcile_metric(name, task, metric, len(distinct), numeric, integral, task_request)

    if task == "regression":
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return _Target(task, values, [], None, kind)

    labels = [_label_text(v) for v in distinct]
    if task == "binary":
        positive = _positive_index(series, distinct, labels, kind)
        order = [1 - positive, positive]
        distinct = [distinct[i] for i in order]
        labels = [labels[i] for i in order]
    codes = pd.Categorical(series, categories=distinct).codes.astype(np.float64)
    return _Target(
        task,
        codes,
        labels,
        labels[1] if task == "binary" else None,
        kind,
    )


def _decide_task(
    name: str,
    kind: str,
    n_distinct: int,
    n_rows: int,
    numeric: bool,
    integral: bool,
    requested: str | None,
) -> str:
    if requested == "classification":
        requested = "binary" if n_distinct == 2 else "multiclass"
    if requested == "binary" and n_distinct != 2:
        raise TrainingFailed(
            "task_mismatch",
            f"binary classification needs exactly 2 distinct target values but '{name}' has "
            f"{n_distinct}; use task multiclass or regression, or leave the task empty",
        )
    if requested == "regression" and not numeric:
        raise TrainingFailed(
            "task_mismatch",
            f"regression needs a numeric target but '{name}' holds {kind} values; use a "
            "classification task or leave the task empty",
        )
    if requested == "multiclass" and n_distinct > MAX_CLASSES:
        raise _too_many_classes(name, n_distinct)
    if requested is not None:
        return requested
    if n_distinct == 2:
        return "binary"
    if kind == "string":
        if n_distinct > MAX_CLASSES or n_distinct * MIN_ROWS_PER_CLASS > n_rows:
            raise _too_many_classes(name, n_distinct)
        return "multiclass"
    if integral and n_distinct <= MAX_INTEGER_CLASSES and n_distinct * MIN_ROWS_PER_CLASS <= n_rows:
        return "multiclass"
    return "regression"


def _reconcile_metric(
    name: str,
    task: str,
    metric: str | None,
    n_distinct: int,
    numeric: bool,
    integral: bool,
    requested: str | None,
) -> str:
    """A requested metric implies a kind of task; follow it when the target allows."""
    if metric is None:
        return task
    wants_regression = metric in m.REGRESSION_METRICS
    if wants_regression == (task == "regression"):
        return task
    if requested is None and wants_regression and numeric:
        return "regression"
    if requested is None and not wants_regression and integral and n_distinct <= MAX_CLASSES:
        return "binary" if n_distinct == 2 else "multiclass"
    kind = "regression" if wants_regression else "classification"
    raise TrainingFailed(
        "metric_not_applicable",
        f"the metric '{metric}' is for {kind}, but '{name}' is trained as "
        f"{_TASK_WORDS[task]}; choose a {_TASK_WORDS[task]} metric or leave the metric empty",
    )


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


def _describe_target(name: str, target: _Target) -> str:
    if target.task == "regression":
        values = target.values
        return (
            f"task: regression of '{name}' (from {_fmt(float(values.min()))} to "
            f"{_fmt(float(values.max()))}, mean {_fmt(float(values.mean()))})"
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
        + _preview(target.classes)
    )


# ------------------------------------------------------------------------ features


def _plan_features(df: pd.DataFrame, target: str) -> tuple[list[FeatureSpec], dict[str, str]]:
    """The usable input columns (as FeatureSpecs) and the dropped ones with reasons."""
    inputs: list[FeatureSpec] = []
    dropped: dict[str, str] = {}
    n_rows = len(df)
    for column in df.columns:
        name = str(column)
        if name == target:
            continue
        series = df[column]
        kind = column_type(series)
        present = series.dropna()
        n_present = len(present)
        missing = 1.0 - n_present / n_rows
        if missing > MAX_MISSING_FRACTION:
            dropped[name] = (
                "no values" if n_present == 0 else f"{missing:.0%} of values are missing"
            )
            continue
        n_distinct = int(present.nunique())
        if n_distinct <= 1:
            value = present.iloc[0]
            dropped[name] = f"the same value ({_short(value)}) in every row"
            continue
        unique_per_row = n_distinct == n_present and n_present >= 0.9 * n_rows
        if kind == "string" and unique_per_row:
            dropped[name] = "identifier: a different value in every row"
            continue
        if (
            kind == "integer"
            and unique_per_row
            and (_id_like_name(name) or _is_dense_sequence(present, n_distinct))
        ):
            dropped[name] = "identifier: a different whole number in every row"
            continue
        if kind == "string" and n_distinct > max(50, n_present // 2):
            dropped[name] = (
                f"{n_distinct:,} distinct values in {n_present:,} rows: too many to use as a "
                "category (free text or an identifier?)"
            )
            continue
        feature_kind = "category" if kind == "string" else kind
        categories: list[str] = []
        if feature_kind == "category":
            counts = present.astype(str).value_counts()
            # Most frequent first so the cap keeps the values that carry signal; ties by
            # value so the codes do not depend on row order.
            ordered = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
            categories = [str(value) for value, _ in ordered[:MAX_CATEGORIES]]
        inputs.append(
            FeatureSpec(
                name=name,
                kind=feature_kind,
                categories=categories,
                required=n_present == n_rows,
            )
        )
    return inputs, dropped


def build_matrix(df: pd.DataFrame, inputs: list[FeatureSpec]) -> FloatMatrix:
    """The float64 feature matrix for `df`, laid out exactly as serving builds it."""
    columns, _ = matrix_layout(inputs)
    matrix = np.empty((len(df), len(columns)), dtype=np.float64)
    j = 0
    for spec in inputs:
        series = df[spec.name]
        if spec.kind in ("number", "integer", "boolean"):
            matrix[:, j] = _as_float(series)
            j += 1
        elif spec.kind == "category":
            if series.dtype == object:
                # Categories are strings (as serving receives them), whatever was parsed.
                series = series.where(series.isna(), series.astype(str))
            codes = pd.Categorical(series, categories=spec.categories).codes
            matrix[:, j] = np.where(codes < 0, np.nan, codes.astype(np.float64))
            j += 1
        else:
            parts = _date_parts(series, with_time=spec.kind == "datetime")
            matrix[:, j : j + parts.shape[1]] = parts
            j += parts.shape[1]
    return matrix


def _sample_input(df: pd.DataFrame, inputs: list[FeatureSpec]) -> dict[str, Any]:
    """A typical row: medians of numbers and dates, the most frequent other values."""
    sample: dict[str, Any] = {}
    for spec in inputs:
        series = df[spec.name]
        value: Any = None
        if spec.kind == "category":
            value = spec.categories[0]
        elif spec.kind in ("number", "integer"):
            median = float(np.nanmedian(_as_float(series)))
            value = round(median) if spec.kind == "integer" else median
        elif spec.kind == "boolean":
            value = bool(np.nanmean(_as_float(series)) >= 0.5)
        else:
            stamps = parse_iso_datetimes(series).dropna()
            middle = stamps.sort_values().iloc[len(stamps) // 2]
            if spec.kind == "date":
                value = middle.strftime("%Y-%m-%d")
            else:
                value = middle.strftime("%Y-%m-%dT%H:%M:%SZ")
        sample[spec.name] = value
    return sample


def _as_float(series: pd.Series[Any]) -> npt.NDArray[np.float64]:
    if series.dtype == object:
        series = pd.to_numeric(series, errors="coerce")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _date_parts(series: pd.Series[Any], with_time: bool) -> FloatMatrix:
    """year, month, day, dayofweek, epoch_days (and hour), as serving computes them."""
    stamps = parse_iso_datetimes(series).to_numpy(dtype="datetime64[s]")
    absent = np.isnat(stamps)
    stamps = np.where(absent, np.datetime64(0, "s"), stamps)
    seconds = stamps.astype(np.int64)
    days = np.floor_divide(seconds, 86400)
    as_days = stamps.astype("datetime64[D]")
    months = as_days.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (as_days - months).astype(np.int64) + 1
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    parts = [year, month, day, weekday]
    if with_time:
        parts += [seconds / 86400.0, (seconds % 86400) // 3600]
    else:
        parts += [days]
    out = np.column_stack([p.astype(np.float64) for p in parts])
    out[absent] = np.nan
    return out


def _id_like_name(name: str) -> bool:
    tokens = name_tokens(name)
    return bool(tokens) and (tokens[-1] in _ID_TOKENS or tokens[0] in ("id", "unnamed"))


def _is_dense_sequence(values: pd.Series[Any], n_distinct: int) -> bool:
    span = float(values.max()) - float(values.min()) + 1
    return span <= 1.1 * n_distinct


def _feature_names(columns: list[str]) -> list[str]:
    # LightGBM rejects JSON punctuation in feature names; the names only label the
    # trees in model.txt, the real mapping lives in meta.json.
    names: list[str] = []
    seen: set[str] = set()
    for index, column in enumerate(columns):
        name = re.sub(r"[^0-9A-Za-z_.]+", "_", column) or f"f{index}"
        if name in seen:
            name = f"{name}_{index}"
        seen.add(name)
        names.append(name)
    return names


# ------------------------------------------------------------------------ training


def _split(
    n: int, fraction: float, strata: npt.NDArray[np.int64] | None, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Indices (kept, held out); stratified by class when `strata` is given."""
    if strata is None:
        order = rng.permutation(n)
        held = max(1, round(n * fraction))
        return np.sort(order[held:]), np.sort(order[:held])
    kept: list[npt.NDArray[np.int64]] = []
    out: list[npt.NDArray[np.int64]] = []
    for label in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == label))
        held = round(len(members) * fraction)
        if held == 0 and len(members) >= 3:
            held = 1  # every class with a few rows shows up in the held-out part
        out.append(members[:held])
        kept.append(members[held:])
    held_idx = np.sort(np.concatenate(out)).astype(np.int64)
    kept_idx = np.sort(np.concatenate(kept)).astype(np.int64)
    if len(held_idx) == 0:
        return _split(n, fraction, None, rng)
    return kept_idx, held_idx


def _two_classes(values: npt.NDArray[np.float64], task: str) -> bool:
    return task == "binary" and len(np.unique(values)) == 2


def _params(target: _Target, n_fit: int, seed: int, has_auc: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "learning_rate": 0.05,
        "num_leaves": 31,
        # LightGBM's default of 20 rows per leaf leaves tiny datasets with no splits.
        "min_data_in_leaf": int(min(20, max(2, n_fit // 50))),
        "min_data_per_group": int(min(100, max(5, n_fit // 20))),
        "cat_smooth": 10.0,
        "feature_pre_filter": False,
        "num_threads": 2,
        "verbose": -1,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
    }
    if target.task == "binary":
        params["objective"] = "binary"
        params["metric"] = ["binary_logloss", "auc"] if has_auc else ["binary_logloss"]
    elif target.task == "multiclass":
        params["objective"] = "multiclass"
        params["num_class"] = len(target.classes)
        params["metric"] = ["multi_logloss", "multi_error"]
    else:
        params["objective"] = "regression"
        params["metric"] = ["rmse", "l1"]
    return params


def _dataset(
    matrix: FloatMatrix,
    y: npt.NDArray[np.float64],
    rows: npt.NDArray[np.int64],
    names: list[str],
    categorical: list[int],
    params: dict[str, Any],
    reference: lgb.Dataset | None = None,
) -> lgb.Dataset:
    return lgb.Dataset(
        matrix[rows],
        label=y[rows],
        feature_name=names,
        categorical_feature=categorical,
        params=params,
        reference=reference,
        free_raw_data=True,
    )


def _fit_early_stopped(
    params: dict[str, Any],
    matrix: FloatMatrix,
    y: npt.NDArray[np.float64],
    fit: npt.NDArray[np.int64],
    val: npt.NDArray[np.int64],
    names: list[str],
    categorical: list[int],
    report: Progress,
) -> tuple[lgb.Booster, int, str]:
    train_set = _dataset(matrix, y, fit, names, categorical, params)
    valid_set = _dataset(matrix, y, val, names, categorical, params, reference=train_set)
    history: dict[str, Any] = {}

    def log_rounds(env: lgb.callback.CallbackEnv) -> None:
        round_no = env.iteration + 1
        if round_no % LOG_EVERY_ROUNDS == 0:
            scores = ", ".join(
                f"{_metric_label(item[1])} {_fmt(_metric_value(item[1], item[2]))}"
                for item in (env.evaluation_result_list or [])
            )
            report(30 + (50 * round_no) // MAX_ROUNDS, f"round {round_no}: validation {scores}")

    try:
        booster = lgb.train(
            params,
            train_set,
            num_boost_round=MAX_ROUNDS,
            valid_sets=[valid_set],
            valid_names=["validation"],
            callbacks=[
                lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False),
                lgb.record_evaluation(history),
                log_rounds,
            ],
        )
    except lgb.basic.LightGBMError as exc:
        raise TrainingFailed("training_error", f"LightGBM could not train: {exc}") from exc
    best = booster.best_iteration or booster.current_iteration()
    best = max(1, best)
    scores = history.get("validation", {})
    shown = [k for k in ("auc", "multi_error", "rmse") if k in scores] or list(scores)[:1]
    parts = [
        f"{_metric_label(k)} {_fmt(_metric_value(k, scores[k][best - 1]))}"
        for k in shown
        if len(scores[k]) >= best
    ]
    line = f"best iteration {best}" + (f", validation {', '.join(parts)}" if parts else "")
    return booster, best, line


def _metric_label(lightgbm_metric: str) -> str:
    return {
        "multi_error": "accuracy",
        "binary_logloss": "log loss",
        "multi_logloss": "log loss",
        "l1": "mae",
    }.get(lightgbm_metric, lightgbm_metric)


def _metric_value(lightgbm_metric: str, value: float) -> float:
    return 1.0 - value if lightgbm_metric == "multi_error" else value


# ---------------------------------------------------------------------- evaluation


def _evaluate(
    target: _Target, y_true: npt.NDArray[np.float64], raw: npt.NDArray[np.float64]
) -> dict[str, float]:
    if target.task == "regression":
        scores = {
            "rmse": m.rmse(y_true, raw),
            "mae": m.mae(y_true, raw),
            "r2": m.r2(y_true, raw),
            "mape": m.mape(y_true, raw),
        }
    else:
        codes = y_true.astype(np.int64)
        if target.task == "binary":
            predicted = (raw >= 0.5).astype(np.int64)
            positive: int | None = 1
        else:
            predicted = np.argmax(raw, axis=1).astype(np.int64)
            positive = None  # macro averages over classes
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


def _primary_metric(
    task: str, requested: str | None, scores: dict[str, float]
) -> tuple[str, float, str]:
    wanted = requested or _DEFAULT_METRIC[task]
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


def _importance(
    booster: lgb.Booster, inputs: list[FeatureSpec], iteration: int | None
) -> dict[str, float]:
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


# ------------------------------------------------------------------------ artifact


def _write_artifact(
    artifact_dir: Path, booster: lgb.Booster, meta: ModelMeta, iteration: int | None
) -> None:
    """Write model.txt and meta.json next to `artifact_dir`, then rename into place."""
    parent = artifact_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{artifact_dir.name}.", suffix=".tmp", dir=parent))
    try:
        model_path = staging / MODEL_FILE
        booster.save_model(str(model_path), num_iteration=iteration)
        (staging / META_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(meta)))
        for path in (model_path, staging / META_FILE):
            _fsync(path)
        staging.chmod(0o755)
        if artifact_dir.exists():
            # A retried job replaces its earlier artifact; move the old one aside
            # first because rename cannot replace a non-empty directory.
            old = parent / f".{artifact_dir.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.replace(artifact_dir, old)
            os.replace(staging, artifact_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, artifact_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------- helpers


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}" if abs(value) >= 1 else f"{value:.3f}"


def _short(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def _preview(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
