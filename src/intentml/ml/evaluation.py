"""Scoring a model on held-out rows, against a trivial baseline, and how much each input
contributed to it.

The baseline is what a model that learned nothing would do: always the training rows'
majority class (with their class frequencies as probabilities), or always their mean.
A trained model is *clearly better* when both hold on the test rows, for the version's
metric:

- its skill, (model - baseline) / (perfect - baseline), the share of the gap to a
  perfect score it closes, is at least `MIN_SKILL` (5 %). A relative margin, because
  metrics differ in scale: 0.02 more accuracy is nothing over a 50 % baseline and a
  lot over a 97 % one; for an error it is 1 - model / baseline;
- it beats the baseline in all but `MAX_CHANCE_NOT_BETTER` (5 %) of `RESAMPLES`
  bootstrap resamples of the test rows (paired: both scored on the same resample), so
  a gain a small test set shows by luck is not taken for learning.

Otherwise the build warns. A baseline already perfect on the test rows (a single class
there) leaves nothing to show, which is a warning too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from intentml.domain.training_report import Baseline, ClassScores, TestEvaluation
from intentml.ml import metrics as m
from intentml.ml.errors import TrainingFailed
from intentml.ml.serving import FeatureSpec, expanded_columns
from intentml.ml.task import MAX_CLASSES, Target
from intentml.ml.text import fmt


def evaluate_test(
    target: Target, y_true: npt.NDArray[np.float64], raw: npt.NDArray[np.float64]
) -> TestEvaluation:
    """Every metric of the task, plus confusion matrix and per-class scores for classifiers."""
    scores = evaluate(target, y_true, raw)
    if target.task == "regression":
        return TestEvaluation(rows=len(y_true), metrics=scores)
    codes = y_true.astype(np.int64)
    predicted = _predicted_codes(target, raw)
    k = len(target.classes)
    per_class = {
        label: ClassScores(
            precision=round(s["precision"], 6),
            recall=round(s["recall"], 6),
            f1=round(s["f1"], 6),
            support=int(s["support"]),
        )
        for label, s in zip(target.classes, m.per_class(codes, predicted, k), strict=True)
    }
    return TestEvaluation(
        rows=len(y_true),
        metrics=scores,
        labels=list(target.classes),
        confusion_matrix=m.confusion_matrix(codes, predicted, k),
        per_class=per_class,
    )


def _predicted_codes(target: Target, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    if target.task == "binary":
        return (raw >= 0.5).astype(np.int64)
    codes: npt.NDArray[np.int64] = np.argmax(raw, axis=1).astype(np.int64)
    return codes


def evaluate(
    target: Target, y_true: npt.NDArray[np.float64], raw: npt.NDArray[np.float64]
) -> dict[str, float]:
    """All metrics of the task for predictions `raw` (probabilities or values)."""
    names = m.REGRESSION_METRICS if target.task == "regression" else m.CLASSIFICATION_METRICS
    scores = _scores(target, y_true, raw, names)
    # NaN (undefined on this test set) cannot travel through JSON; leave it out.
    return {k: float(v) for k, v in scores.items() if math.isfinite(v)}


def _scores(
    target: Target,
    y_true: npt.NDArray[np.float64],
    raw: npt.NDArray[np.float64],
    names: Iterable[str],
) -> dict[str, float]:
    """The named metrics of the task (NaN where undefined)."""
    if target.task == "regression":
        regression = {"rmse": m.rmse, "mae": m.mae, "r2": m.r2, "mape": m.mape}
        return {n: regression[n](y_true, raw) for n in names}
    codes = y_true.astype(np.int64)
    predicted = _predicted_codes(target, raw)
    # Binary scores are of the positive class; multiclass ones macro-average the classes.
    positive = 1 if target.task == "binary" else None
    classification: dict[str, Callable[[], float]] = {
        "accuracy": lambda: m.accuracy(codes, predicted),
        "precision": lambda: m.precision(codes, predicted, positive),
        "recall": lambda: m.recall(codes, predicted, positive),
        "f1": lambda: m.f1(codes, predicted, positive),
        "roc_auc": lambda: m.roc_auc(codes, raw),
        "log_loss": lambda: m.log_loss(codes, raw),
    }
    return {n: classification[n]() for n in names}


def primary_metric(task: str, wanted: str, scores: dict[str, float]) -> tuple[str, float, str]:
    """(metric, value, note): the wanted metric, or a fallback and a note saying why."""
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


def importance(
    booster: lgb.Booster, inputs: list[FeatureSpec], iteration: int | None
) -> dict[str, float]:
    """Each input's share of the total split gain, largest first (sums to 1)."""
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


#: The least share of the gap between the baseline and a perfect score a model must close.
MIN_SKILL = 0.05
#: The largest share of bootstrap resamples in which a clearly better model may lose.
MAX_CHANCE_NOT_BETTER = 0.05
RESAMPLES = 200
#: Resamples draw from at most this many test rows times classes (a random subset of
#: larger test sets; a multiclass score costs about one binary score per class): it
#: bounds the cost at about 0.2 s, and fewer rows only widen the spread, so the cap can
#: add a warning but never hide one.
RESAMPLE_MAX_CELLS = 10_000


def baseline_predictions(
    target: Target, y_train: npt.NDArray[np.float64], n: int
) -> tuple[npt.NDArray[np.float64], str]:
    """What the trivial baseline predicts for `n` rows, and how to say it."""
    if target.task == "regression":
        mean = float(np.mean(y_train))
        return np.full(n, mean), f"always the training rows' mean, {fmt(mean)}"
    k = len(target.classes)
    freq = np.bincount(y_train.astype(np.int64), minlength=k) / max(1, len(y_train))
    if target.task == "binary":
        # The class a 0.5 threshold turns these probabilities into, ties included.
        majority = target.classes[1 if freq[1] >= 0.5 else 0]
        raw = np.full(n, float(freq[1]))
    else:
        majority = target.classes[int(np.argmax(freq))]
        raw = np.tile(freq, (n, 1))
    return raw, (
        f"always the majority class '{majority}', with the training rows' class "
        "frequencies as probabilities"
    )


def compare_with_baseline(
    target: Target,
    metric: str,
    y_train: npt.NDArray[np.float64],
    y_test: npt.NDArray[np.float64],
    model_raw: npt.NDArray[np.float64],
    seed: int,
) -> Baseline:
    """Score the trivial baseline (fitted on `y_train`) on the test rows and compare the
    model's predictions `model_raw` with it by `metric` (see the module's rule)."""
    raw, strategy = baseline_predictions(target, y_train, len(y_test))
    value = _scores(target, y_test, raw, [metric])[metric]
    model_value = _scores(target, y_test, model_raw, [metric])[metric]
    higher = metric in m.HIGHER_IS_BETTER
    gap = (1.0 if higher else 0.0) - value
    skill = (model_value - value) / gap if math.isfinite(value) and abs(gap) > 1e-12 else None
    chance = _chance_not_better(target, metric, y_test, model_raw, raw, higher, seed)
    return Baseline(
        strategy=strategy,
        metric=metric,
        value=value if math.isfinite(value) else None,
        model_value=model_value,
        skill=None if skill is None else round(skill, 6),
        chance_not_better=chance,
        clearly_better=(
            skill is not None and skill >= MIN_SKILL and chance <= MAX_CHANCE_NOT_BETTER
        ),
        metrics=evaluate(target, y_test, raw),
    )


def _chance_not_better(
    target: Target,
    metric: str,
    y_test: npt.NDArray[np.float64],
    model_raw: npt.NDArray[np.float64],
    base_raw: npt.NDArray[np.float64],
    higher: bool,
    seed: int,
) -> float:
    """Share of paired bootstrap resamples of the test rows where the model's score is
    not better than the baseline's (resamples where the metric is undefined are left out;
    with none left, 1.0: nothing shows the model better)."""
    rng = np.random.default_rng(seed + 3)
    n = len(y_test)
    cap = max(100, RESAMPLE_MAX_CELLS // max(1, len(target.classes)))
    pool = np.arange(n) if n <= cap else rng.choice(n, cap, replace=False)
    counted = not_better = 0
    for _ in range(RESAMPLES):
        pick = rng.choice(pool, len(pool))
        ours = _scores(target, y_test[pick], model_raw[pick], [metric])[metric]
        theirs = _scores(target, y_test[pick], base_raw[pick], [metric])[metric]
        if not (math.isfinite(ours) and math.isfinite(theirs)):
            continue
        counted += 1
        not_better += ours <= theirs if higher else ours >= theirs
    return round(not_better / counted, 4) if counted else 1.0


def baseline_warning(baseline: Baseline, target: Target, name: str, test_rows: int) -> str | None:
    """The warning for a model that is not clearly better than its baseline, or None."""
    if baseline.clearly_better:
        return None
    b = baseline
    value = math.nan if b.value is None else b.value
    against = (
        f"test {b.metric} {fmt(b.model_value)} against {fmt(value)} for the trivial "
        f"baseline ({b.strategy})"
    )
    if b.skill is None:
        text = (
            f"the model cannot be shown better than a trivial baseline: {against}, which is "
            f"already a perfect score on the {test_rows:,} test rows, so the score says "
            f"nothing about what the model learned; check the rows of each value of '{name}'"
        )
    elif b.skill < MIN_SKILL:
        closes = (
            "it does no better than the baseline"
            if b.skill <= 0
            else f"it closes only {b.skill:.1%} of the gap to a perfect score (a clearly "
            f"better model closes at least {MIN_SKILL:.0%})"
        )
        text = (
            f"the model is not clearly better than a trivial baseline: {against}; {closes}, "
            f"so the inputs may carry little information about '{name}'"
        )
    else:
        text = (
            f"the model may not be better than a trivial baseline: {against}; on "
            f"{test_rows:,} test rows it did not beat the baseline in "
            f"{b.chance_not_better:.0%} of {RESAMPLES} bootstrap resamples, so the gain may "
            "be chance; more rows would tell"
        )
    if target.task == "regression" and bool(np.all(np.mod(target.values, 1) == 0)):
        text += (
            f". '{name}' holds whole numbers: if they are codes of categories rather than "
            "amounts, a regression cannot learn them; group them into at most "
            f"{MAX_CLASSES} classes with enough rows each and set `task` to multiclass"
        )
    return text
