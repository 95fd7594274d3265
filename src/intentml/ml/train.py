"""Training: dataset file + target → a searched, evaluated LightGBM model artifact.

The recipe, deterministic for a given seed (`TrainingOptions.seed`), in four stages,
each a function returning a Struct, which `train` runs in order:
1. `prepare`: read the data, drop rows without a target, decide the task and the
   metric (with reasons), drop unusable columns and encode every input as float64
   the way serving will, and hold out 20 % of the rows as a test set the search never
   sees;
2. `select`: search configurations on the rest (`intentml.ml.search`: TPE,
   screened on one fold, the best cross-validated on all);
3. `fit_and_score`: fit the winner on the rest and score it on the test rows (the
   reported metrics), then refit on all rows with the rounds scaled: the served model;
4. `package`: write the artifact and the report.

The artifact is written to a temporary sibling directory and renamed into place, so a
reader never sees half of it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import msgspec
import numpy as np
import numpy.typing as npt
import pandas as pd

from intentml.domain.interpretation import Interpretation
from intentml.domain.training_options import TrainingOptions
from intentml.domain.training_report import (
    Baseline,
    Choice,
    DataSummary,
    TestEvaluation,
    TrainingReport,
    TrainingResult,
)
from intentml.ml.datasets import DatasetError, read_dataset
from intentml.ml.errors import TrainingFailed
from intentml.ml.evaluation import (
    baseline_warning,
    compare_with_baseline,
    evaluate_test,
    importance,
    primary_metric,
)
from intentml.ml.features import (
    build_matrix,
    feature_names,
    identifier_like,
    plan_features,
    sample_input,
)
from intentml.ml.leakage import leaky_inputs
from intentml.ml.outputs import plan_outputs
from intentml.ml.question import hint_for
from intentml.ml.search import (
    DEFAULT_ITERATIONS,
    MAX_ITERATIONS,
    ReportProgress,
    SearchOutcome,
    Selection,
    search,
    selection_for,
)
from intentml.ml.serving import (
    META_FILE,
    MODEL_FILE,
    FeatureSpec,
    LoadedModel,
    ModelMeta,
    matrix_layout,
)
from intentml.ml.task import (
    MetricChoice,
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
    "base_params",
    "build_matrix",
    "check_task",
    "fit_and_score",
    "package",
    "prepare",
    "score_on_test",
    "select",
    "train",
]

FloatMatrix = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]

MIN_ROWS = 20
TEST_FRACTION = 0.2
#: Matrices with fewer cells than this train on one thread (see `_threads`).
PARALLEL_MIN_CELLS = 5_000_000
#: Above this many rows the model fitted for the test score is served without a refit.
REFIT_MAX_ROWS = 2_000_000


class TrainingSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to train: the resolved target and the user's options, as requested."""

    target: str
    intent: str = ""
    #: Why this column is the target (shown by describe), from resolution at create time.
    target_reason: str = ""
    output_fields: list[str] = msgspec.field(default_factory=list)
    options: TrainingOptions = msgspec.field(default_factory=TrainingOptions)
    #: What the LLM interpreter answered at create time (None: none was asked).
    interpretation: Interpretation | None = None
    #: The most threads LightGBM may use (None: this machine's cores, up to 4); the
    #: executor sets it so that concurrent builds do not fight over the cores.
    max_threads: int | None = None
    #: How many candidates the search may score at once, each on one thread (small data
    #: only: large data spends `max_threads` on OpenMP instead). The executor sets it.
    search_width: int = 1
    #: The platform's bound on the search's seconds (`INTENTML_BUILD_TIMEOUT_S` less the
    #: time to finish the best candidate); the request's `time_budget_s` may be smaller.
    search_budget_s: float | None = None


class Prepared(msgspec.Struct, frozen=True, kw_only=True):
    """`prepare`'s outcome: the data as the later stages train on it, and the split."""

    #: The rows that have a target (a sample input for serving comes from them).
    frame: pd.DataFrame
    target: Target
    metric: MetricChoice
    inputs: list[FeatureSpec]
    #: Columns not used as inputs, with the reason.
    dropped: dict[str, str]
    matrix: FloatMatrix
    matrix_columns: list[str]
    categorical: list[int]
    feature_names: list[str]
    #: Rows the search and the scored model train on, and the held-out test rows.
    rest: Indices
    test: Indices
    warnings: list[str]
    summary: DataSummary


class Selected(msgspec.Struct, frozen=True, kw_only=True):
    """`select`'s outcome: how candidates were compared and the search's winner."""

    selection: Selection
    outcome: SearchOutcome


class Fitted(msgspec.Struct, frozen=True, kw_only=True):
    """`fit_and_score`'s outcome: the model to serve and how its recipe scored."""

    booster: lgb.Booster
    rounds: int
    test: TestEvaluation
    metric_name: str
    metric_value: float
    #: Why the reported metric differs from the chosen one, when it does.
    metric_note: str
    baseline: Baseline
    #: `Prepared.warnings` and those the test score adds.
    warnings: list[str]


def train(
    dataset_path: Path,
    fmt_name: str,
    spec: TrainingSpec,
    artifact_dir: Path,
    progress: ReportProgress | None = None,
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

    prepared = prepare(dataset_path, fmt_name, spec, report)
    selected = select(
        prepared,
        spec.options,
        report,
        max_threads=spec.max_threads,
        search_width=spec.search_width,
        platform_budget_s=spec.search_budget_s,
    )
    fitted = fit_and_score(prepared, selected, spec, report)
    return package(prepared, selected, fitted, spec, artifact_dir, report, started=started)


def prepare(
    dataset_path: Path, fmt_name: str, spec: TrainingSpec, report: ReportProgress
) -> Prepared:
    """Stage 1: read the data, encode target and inputs, and split off the test rows."""
    metric_request, task_request = _checked_options(spec.options)
    df, rows_total, missing = _read(dataset_path, fmt_name, spec, report)
    target, metric, warnings = _target(df, spec, metric_request, task_request, report)
    inputs, dropped = _inputs(df, spec.target, report)
    matrix = build_matrix(df, inputs)
    columns, categorical = matrix_layout(inputs)
    report(
        20,
        f"using {len(inputs)} input fields ({len(columns)} features): "
        + preview([s.name for s in inputs]),
    )
    seed = spec.options.seed
    y = target.values
    stratify = target.task != "regression"
    rng = np.random.default_rng(seed)
    rest, test = _split(len(y), TEST_FRACTION, y.astype(np.int64) if stratify else None, rng)
    report(
        25,
        f"holding out {len(test):,} rows for the test; choosing the configuration on {len(rest):,}",
    )
    leaky = leaky_inputs(
        matrix, y, rest, inputs, categorical, target.task, len(target.classes), seed
    )
    inputs, leaks = _drop_leaky_identifiers(df, inputs, dropped, leaky, report)
    if len(leaks) < len(leaky):
        matrix = build_matrix(df, inputs)
        columns, categorical = matrix_layout(inputs)
    for warning in leaks:
        report(25, f"warning: {warning}")
    return Prepared(
        frame=df,
        target=target,
        metric=metric,
        inputs=inputs,
        dropped=dropped,
        matrix=matrix,
        matrix_columns=columns,
        categorical=categorical,
        feature_names=feature_names(columns),
        rest=rest,
        test=test,
        warnings=warnings + leaks,
        summary=DataSummary(
            rows_total=rows_total,
            rows_used=len(y),
            rows_missing_target=missing,
            columns_total=len(df.columns),
            inputs=[s.name for s in inputs],
            dropped_columns=dropped,
            selection_rows=len(rest),
            test_rows=len(test),
        ),
    )


def _checked_options(options: TrainingOptions) -> tuple[str | None, str | None]:
    """The requested metric and task in canonical form; `TrainingFailed` for options no
    build can run with (checked before the data is read)."""
    metric_request = check_metric(options.metric)
    task_request = check_task(options.task)
    iterations = _iterations(options)
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise TrainingFailed(
            "invalid_max_iterations",
            f"max_iterations must be between 1 and {MAX_ITERATIONS}, not {iterations}",
        )
    return metric_request, task_request


def _iterations(options: TrainingOptions) -> int:
    return DEFAULT_ITERATIONS if options.max_iterations is None else options.max_iterations


def _read(
    dataset_path: Path, fmt_name: str, spec: TrainingSpec, report: ReportProgress
) -> tuple[pd.DataFrame, int, int]:
    """The rows that have a target; with the rows read and those dropped for no target."""
    try:
        df = read_dataset(dataset_path, fmt_name)
    except DatasetError as exc:
        raise TrainingFailed("dataset_invalid", f"the dataset cannot be read: {exc}") from exc
    rows_total = len(df)
    report(10, f"loaded {rows_total:,} rows × {len(df.columns)} columns")  # noqa: RUF001
    if spec.target not in df.columns:
        raise TrainingFailed(
            "target_missing",
            f"the target column '{spec.target}' is not in the dataset; set `target` to one of: "
            + ", ".join(map(str, df.columns[:30])),
        )
    if spec.interpretation is not None:
        said = spec.interpretation
        report(10, f"LLM interpreter ({said.model}): {said.outcome}; {said.detail}")
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
    return df, rows_total, missing


def _target(
    df: pd.DataFrame,
    spec: TrainingSpec,
    metric_request: str | None,
    task_request: str | None,
    report: ReportProgress,
) -> tuple[Target, MetricChoice, list[str]]:
    """The encoded target with its task, the metric, and warnings about the classes."""
    hint = hint_for(spec.intent, spec.interpretation)
    target = encode_target(df[spec.target], spec.target, task_request, metric_request, hint)
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
    metric = choose_metric(target, metric_request, hint)
    report(20, f"metric: {metric.name} ({metric.reason})")
    return target, metric, warnings


def _inputs(
    df: pd.DataFrame, target: str, report: ReportProgress
) -> tuple[list[FeatureSpec], dict[str, str]]:
    """The usable input columns and the dropped ones with reasons; fails with none left."""
    inputs, dropped = plan_features(df, target)
    for column, why in dropped.items():
        report(20, f"dropped column '{column}': {why}")
    if not inputs:
        raise TrainingFailed(
            "no_features",
            "no column besides the target can be used as an input (see the dropped columns); "
            "upload data with at least one informative column",
        )
    return inputs, dropped


def _drop_leaky_identifiers(
    df: pd.DataFrame,
    inputs: list[FeatureSpec],
    dropped: dict[str, str],
    leaky: dict[str, str],
    report: ReportProgress,
) -> tuple[list[FeatureSpec], list[str]]:
    """The inputs without the leaky ones that look like identifiers or row numbers
    (added to `dropped`), and the warnings about the leaky inputs kept.

    An identifier can only predict the target by where its row sits (a table sorted
    by the target), never on new rows: it is dropped, not merely reported.
    """
    warnings: list[str] = []
    for name, warning in leaky.items():
        if not identifier_like(name, df[name]):
            warnings.append(warning)
            continue
        finding = warning.removeprefix("possible leakage: ").split("; if its value")[0]
        why = (
            f"identifier-like and leaks the target: {finding} (it can only know the "
            "row's place in the file, so it is dropped)"
        )
        dropped[name] = why
        report(25, f"dropped column '{name}': {why}")
    kept = [spec for spec in inputs if spec.name not in dropped]
    if not kept:
        raise TrainingFailed(
            "no_features",
            "no column besides the target can be used as an input (see the dropped columns); "
            "upload data with at least one informative column",
        )
    return kept, warnings


def select(
    prepared: Prepared,
    options: TrainingOptions,
    report: ReportProgress,
    *,
    max_threads: int | None = None,
    search_width: int = 1,
    platform_budget_s: float | None = None,
) -> Selected:
    """Stage 2: search configurations on the selection rows (never the test rows), within
    the request's `time_budget_s` and the platform's own budget, the smaller one.
    `search_width` candidates are scored at once when each trains on one thread."""
    target, metric = prepared.target, prepared.metric
    params = base_params(target, options.seed, prepared.matrix.size, max_threads)
    selection = selection_for(target.task, metric.name, counts=target.counts)
    if selection.note:
        report(30, f"comparing candidates by {selection.label}: {selection.note}")
    outcome = search(
        prepared.matrix,
        target.values,
        prepared.rest,
        params,
        selection,
        feature_names=prepared.feature_names,
        categorical=prepared.categorical,
        stratify=target.task != "regression",
        max_iterations=_iterations(options),
        time_budget_s=_budget(options.time_budget_s, platform_budget_s),
        seed=options.seed,
        report=report,
        # OpenMP threads and parallel candidates would each spin for the same cores.
        width=search_width if params["num_threads"] == 1 else 1,
    )
    best = outcome.summary.candidates[outcome.summary.best]
    report(
        85,
        f"chose candidate {best.iteration}: {selection.label} {fmt(best.score)} "
        f"({outcome.summary.evaluation})",
    )
    return Selected(selection=selection, outcome=outcome)


def fit_and_score(
    prepared: Prepared, selected: Selected, spec: TrainingSpec, report: ReportProgress
) -> Fitted:
    """Stage 3: fit the winner on the selection rows and score it on the test rows; then
    refit on all rows (below REFIT_MAX_ROWS) for the model to serve."""
    p, outcome = prepared, selected.outcome
    y, rest = p.target.values, p.rest
    rounds = outcome.rounds_for(len(rest))
    scored = _fit(outcome.params, p.matrix, y, rest, p.feature_names, p.categorical, rounds)
    fitted = score_on_test(
        p,
        spec,
        scored,
        rounds,
        f"{rounds} rounds: {outcome.rounds} chosen on {outcome.fit_rows:,}-row folds, "
        "scaled to the rows",
        report,
    )
    if len(y) <= REFIT_MAX_ROWS:
        # The test score describes this recipe; the served model also learns from the
        # test rows, with the rounds scaled the same way.
        rounds = outcome.rounds_for(len(y))
        every_row = np.arange(len(y))
        final = _fit(outcome.params, p.matrix, y, every_row, p.feature_names, p.categorical, rounds)
        report(95, f"refit on all {len(y):,} rows with {rounds} rounds")
        fitted = msgspec.structs.replace(fitted, booster=final, rounds=rounds)
    return fitted


def score_on_test(
    prepared: Prepared,
    spec: TrainingSpec,
    booster: lgb.Booster,
    rounds: int,
    how: str,
    report: ReportProgress,
) -> Fitted:
    """Score `booster` (trained on the selection rows, `how` says how) on the test rows:
    its metrics, the trivial baseline and the warnings; the booster is the one served."""
    p = prepared
    y, rest, test, seed = p.target.values, p.rest, p.test, spec.options.seed
    predicted = np.asarray(booster.predict(p.matrix[test]))
    test_eval = evaluate_test(p.target, y[test], predicted)
    metric_name, metric_value, note = primary_metric(
        p.target.task, p.metric.name, test_eval.metrics
    )
    if note:
        report(90, note)
    report(90, f"test {metric_name} {fmt(metric_value)} on {len(test):,} held-out rows ({how})")
    baseline = compare_with_baseline(p.target, metric_name, y[rest], y[test], predicted, seed)
    report(90, _baseline_line(baseline))
    warnings = list(p.warnings)
    weak = baseline_warning(baseline, p.target, spec.target, len(test))
    if weak is not None:
        report(90, f"warning: {weak}")
        warnings.append(weak)
    return Fitted(
        booster=booster,
        rounds=rounds,
        test=test_eval,
        metric_name=metric_name,
        metric_value=metric_value,
        metric_note=note,
        baseline=baseline,
        warnings=warnings,
    )


def package(
    prepared: Prepared,
    selected: Selected,
    fitted: Fitted,
    spec: TrainingSpec,
    artifact_dir: Path,
    report: ReportProgress,
    *,
    started: float,
) -> TrainingResult:
    """Stage 4: write the artifact (model and meta) and describe the build.

    `started` is the `time.perf_counter()` at the start of the build.
    """
    p, f = prepared, fitted
    meta = ModelMeta(
        task=p.target.task,
        target=spec.target,
        target_type=p.target.target_type,
        classes=p.target.classes,
        positive_class=p.target.positive_class,
        inputs=p.inputs,
        ignored_columns=list(p.dropped),
        output_fields=list(spec.output_fields),
        metric_name=f.metric_name,
        metric_value=f.metric_value,
        metrics=f.test.metrics,
        matrix_columns=p.matrix_columns,
        best_iteration=f.rounds,
        rows_used=p.summary.rows_used,
        intent=spec.intent,
        lightgbm_version=lgb.__version__,
        sample_input=sample_input(p.frame, p.inputs),
    )
    _write_artifact(artifact_dir, f.booster, meta, None)
    served = LoadedModel(meta, f.booster)
    report(100, f"saved model: {f.rounds} boosting rounds on {len(p.inputs)} input fields")
    return TrainingResult(
        task=p.target.task,
        metric_name=f.metric_name,
        metric_value=f.metric_value,
        metrics=f.test.metrics,
        feature_importance=importance(f.booster, p.inputs, None),
        features=[s.name for s in p.inputs],
        dropped_columns=p.dropped,
        rows_used=p.summary.rows_used,
        training_seconds=round(time.perf_counter() - started, 3),
        best_iteration=f.rounds,
        input_schema=served.input_schema(),
        output_schema=served.output_schema(),
        report=_report(p, selected, f, spec),
    )


def _report(p: Prepared, selected: Selected, f: Fitted, spec: TrainingSpec) -> TrainingReport:
    """The build's report: each choice with its reason, the data, search and test."""
    metric = p.metric
    return TrainingReport(
        target=Choice(spec.target, spec.target_reason or "set by the request's `target`"),
        task=Choice(p.target.task, p.target.task_reason),
        metric=Choice(
            f.metric_name, metric.reason if f.metric_name == metric.name else f.metric_note
        ),
        data=p.summary,
        search=selected.outcome.summary,
        test=f.test,
        warnings=f.warnings,
        baseline=f.baseline,
        options=spec.options,
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


def _budget(requested: float | None, platform: float | None) -> float | None:
    given = [b for b in (requested, platform) if b is not None]
    return min(given) if given else None


def base_params(
    target: Target, seed: int, cells: int, max_threads: int | None = None
) -> dict[str, Any]:
    """The parameters the search does not touch."""
    params: dict[str, Any] = {
        "objective": target.task,
        "feature_pre_filter": False,
        "num_threads": _threads(cells, max_threads),
        "verbose": -1,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
    }
    if target.task == "multiclass":
        params["num_class"] = len(target.classes)
    return params


def _threads(cells: int, cap: int | None) -> int:
    # OpenMP threads spin while they wait for each other: on small data, or on a busy
    # machine, a second thread made a 0.5 s build take 20 s. Only large data gains.
    if cells < PARALLEL_MIN_CELLS:
        return 1
    return max(1, min(4, os.cpu_count() or 1, cap or 4))


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
