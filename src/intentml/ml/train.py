"""Training: dataset file + target → a searched, evaluated LightGBM model artifact.

The recipe, deterministic for a given seed:
1. read the data, drop rows without a target, decide the task and the metric (with reasons);
2. drop unusable columns and encode every input as float64 the way serving will;
3. hold out 20 % of the rows as a test set the search never sees;
4. search configurations on the rest (`intentml.ml.search`: TPE, cross-validated);
5. fit the winner on the rest and score it on the test rows: the reported metrics;
6. refit on all rows with the same number of rounds: the served model.

The artifact is written to a temporary sibling directory and renamed into place, so a
reader never sees half of it.
"""

from __future__ import annotations

import os
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

from intentml.domain.training_report import Baseline, DataSummary, Decision, TrainingReport
from intentml.ml.datasets import DatasetError, read_dataset
from intentml.ml.errors import TrainingFailed
from intentml.ml.evaluation import (
    baseline_warning,
    compare_with_baseline,
    evaluate_test,
    importance,
    primary_metric,
)
from intentml.ml.features import build_matrix, feature_names, plan_features, sample_input
from intentml.ml.leakage import leaky_inputs
from intentml.ml.outputs import plan_outputs
from intentml.ml.search import DEFAULT_ITERATIONS, MAX_ITERATIONS, search, selection_for
from intentml.ml.serving import META_FILE, MODEL_FILE, LoadedModel, ModelMeta, matrix_layout
from intentml.ml.task import (
    Target,
    check_class_rows,
    check_metric,
    check_task,
    choose_metric,
    describe_target,
    encode_target,
)
from intentml.ml.text import fmt, preview

__all__ = [
    "TrainingFailed",
    "TrainingResult",
    "TrainingSpec",
    "build_matrix",
    "check_task",
    "train",
]

Progress = Callable[[int, str], None]
FloatMatrix = npt.NDArray[np.float64]

MIN_ROWS = 20
TEST_FRACTION = 0.2
#: Matrices with fewer cells than this train on one thread (see `_threads`).
PARALLEL_MIN_CELLS = 5_000_000
#: Above this many rows the model fitted for the test score is served without a refit.
REFIT_MAX_ROWS = 2_000_000


class TrainingSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to train: the target column, the user's intent and optional overrides."""

    target: str
    intent: str = ""
    #: Why this column is the target (shown by describe), from resolution at create time.
    target_reason: str = ""
    metric: str | None = None
    task: str | None = None
    output_fields: list[str] = msgspec.field(default_factory=list)
    max_iterations: int = DEFAULT_ITERATIONS
    time_budget_s: float | None = None
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
    report: TrainingReport | None = None


def train(
    dataset_path: Path,
    fmt_name: str,
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

    metric_request = check_metric(spec.metric)
    task_request = check_task(spec.task)
    if not 1 <= spec.max_iterations <= MAX_ITERATIONS:
        raise TrainingFailed(
            "invalid_max_iterations",
            f"max_iterations must be between 1 and {MAX_ITERATIONS}, not {spec.max_iterations}",
        )

    try:
        df = read_dataset(dataset_path, fmt_name)
    except DatasetError as exc:
        raise TrainingFailed("dataset_invalid", f"the dataset cannot be read: {exc}") from exc
    rows_total, columns_total = len(df), len(df.columns)
    report(10, f"loaded {rows_total:,} rows × {columns_total} columns")  # noqa: RUF001

    if spec.target not in df.columns:
        raise TrainingFailed(
            "target_missing",
            f"the target column '{spec.target}' is not in the dataset; set `target` to one of: "
            + ", ".join(map(str, df.columns[:30])),
        )
    if spec.target_reason:
        report(10, f"target '{spec.target}': {spec.target_reason}")
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

    target = encode_target(df[spec.target], spec.target, task_request, metric_request)
    report(20, describe_target(spec.target, target) + f" ({target.task_reason})")
    warnings = check_class_rows(spec.target, target)
    for warning in warnings:
        report(20, f"warning: {warning}")
    try:
        plan_outputs(spec.output_fields, spec.target, target.task, map(str, df.columns))
    except ValueError as exc:
        raise TrainingFailed(
            "output_unfillable",
            f"the output schema cannot be filled by a {target.task} model: {exc}; "
            "leave `output_schema` out for the default fields",
        ) from exc
    metric = choose_metric(target, metric_request)
    report(20, f"metric: {metric.name} ({metric.reason})")

    inputs, dropped = plan_features(df, spec.target)
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
    names = feature_names(columns)
    report(
        20,
        f"using {len(inputs)} input fields ({len(columns)} features): "
        + preview([s.name for s in inputs]),
    )

    y = target.values
    rng = np.random.default_rng(spec.seed)
    stratify = target.task != "regression"
    rest, test = _split(len(y), TEST_FRACTION, y.astype(np.int64) if stratify else None, rng)
    report(
        25,
        f"holding out {len(test):,} rows for the test; choosing the configuration on {len(rest):,}",
    )
    leaks = leaky_inputs(
        matrix, y, rest, inputs, categorical, target.task, len(target.classes), spec.seed
    )
    for warning in leaks:
        report(25, f"warning: {warning}")
    warnings += leaks

    selection = selection_for(target.task, metric.name)
    if selection.note:
        report(30, f"comparing candidates by {selection.label}: {selection.note}")
    outcome = search(
        matrix,
        y,
        rest,
        _base_params(target, spec.seed, matrix.size),
        selection,
        feature_names=names,
        categorical=categorical,
        stratify=stratify,
        max_iterations=spec.max_iterations,
        time_budget_s=spec.time_budget_s,
        seed=spec.seed,
        report=report,
    )
    best = outcome.summary.candidates[outcome.summary.best]
    report(
        85,
        f"chose candidate {best.iteration}: {selection.label} {fmt(best.score)} "
        f"({outcome.summary.evaluation})",
    )

    rounds = outcome.rounds_for(len(rest))
    selected = _fit(outcome.params, matrix, y, rest, names, categorical, rounds)
    predicted = np.asarray(selected.predict(matrix[test]))
    test_eval = evaluate_test(target, y[test], predicted)
    metric_name, metric_value, note = primary_metric(target.task, metric.name, test_eval.metrics)
    if note:
        report(90, note)
    report(
        90,
        f"test {metric_name} {fmt(metric_value)} on {len(test):,} held-out rows "
        f"({rounds} rounds: {outcome.rounds} chosen on {outcome.fit_rows:,}-row folds, "
        "scaled to the rows)",
    )
    baseline = compare_with_baseline(target, metric_name, y[rest], y[test], predicted, spec.seed)
    report(90, _baseline_line(baseline))
    weak = baseline_warning(baseline, target, spec.target, len(test))
    if weak is not None:
        report(90, f"warning: {weak}")
        warnings.append(weak)

    if len(y) <= REFIT_MAX_ROWS:
        # The test score describes this recipe; the served model also learns from the
        # test rows, with the rounds scaled the same way.
        rounds = outcome.rounds_for(len(y))
        final = _fit(outcome.params, matrix, y, np.arange(len(y)), names, categorical, rounds)
        report(95, f"refit on all {len(y):,} rows with {rounds} rounds")
    else:
        final = selected

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
        metrics=test_eval.metrics,
        matrix_columns=columns,
        best_iteration=rounds,
        rows_used=len(y),
        intent=spec.intent,
        lightgbm_version=lgb.__version__,
        sample_input=sample_input(df, inputs),
    )
    _write_artifact(artifact_dir, final, meta, None)
    served = LoadedModel(meta, final)
    report(100, f"saved model: {rounds} boosting rounds on {len(inputs)} input fields")
    training_report = TrainingReport(
        target=Decision(spec.target, spec.target_reason or "set by the request's `target`"),
        task=Decision(target.task, target.task_reason),
        metric=Decision(metric_name, metric.reason if metric_name == metric.name else note),
        data=DataSummary(
            rows_total=rows_total,
            rows_used=len(y),
            rows_missing_target=missing,
            columns_total=columns_total,
            inputs=[s.name for s in inputs],
            dropped_columns=dropped,
            selection_rows=len(rest),
            test_rows=len(test),
        ),
        search=outcome.summary,
        test=test_eval,
        warnings=warnings,
        baseline=baseline,
    )
    return TrainingResult(
        task=target.task,
        metric_name=metric_name,
        metric_value=metric_value,
        metrics=test_eval.metrics,
        feature_importance=importance(final, inputs, None),
        features=[s.name for s in inputs],
        dropped_columns=dropped,
        rows_used=len(y),
        training_seconds=round(time.perf_counter() - started, 3),
        best_iteration=rounds,
        input_schema=served.input_schema(),
        output_schema=served.output_schema(),
        report=training_report,
    )


def _baseline_line(b: Baseline) -> str:
    """The build-log line comparing the model with its trivial baseline."""
    skill = "n/a" if b.skill is None else f"{b.skill:.0%}"
    value = "n/a" if b.value is None else fmt(b.value)
    return (
        f"baseline ({b.strategy}): test {b.metric} {value} against the model's "
        f"{fmt(b.model_value)}; skill {skill} of the way to a perfect score, not better in "
        f"{b.chance_not_better:.0%} of bootstrap resamples"
    )


def _base_params(target: Target, seed: int, cells: int) -> dict[str, Any]:
    """The parameters the search does not touch."""
    params: dict[str, Any] = {
        "objective": target.task,
        "feature_pre_filter": False,
        "num_threads": _threads(cells),
        "verbose": -1,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
    }
    if target.task == "multiclass":
        params["num_class"] = len(target.classes)
    return params


def _threads(cells: int) -> int:
    # OpenMP threads spin while they wait for each other: on small data, or on a busy
    # machine, a second thread made a 0.5 s build take 20 s. Only large data gains.
    if cells < PARALLEL_MIN_CELLS:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def _fit(
    params: dict[str, Any],
    matrix: FloatMatrix,
    y: npt.NDArray[np.float64],
    rows: npt.NDArray[np.int64],
    names: list[str],
    categorical: list[int],
    rounds: int,
) -> lgb.Booster:
    dataset = lgb.Dataset(
        matrix[rows],
        label=y[rows],
        feature_name=names,
        categorical_feature=categorical,
        params={"verbose": -1, "feature_pre_filter": False},
    )
    try:
        return lgb.train(params, dataset, num_boost_round=rounds)
    except lgb.basic.LightGBMError as exc:
        raise TrainingFailed("training_error", f"LightGBM could not train: {exc}") from exc


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
