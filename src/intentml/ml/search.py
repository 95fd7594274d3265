"""Choosing LightGBM's configuration: a TPE search, by successive halving.

The first candidate is a sound default (a known starting point, and a warm start: its
score seeds the sampler); then a few random candidates explore the space and Optuna's
multivariate TPE sampler proposes the rest from what scored well. Every candidate is
screened on one of the cross-validation folds (its rounds capped at a multiple of the
default's work), and the best few, the finalists, are cross-validated on all folds
(one validation split on large data, where there is nothing to halve). Every scoring
stops early, so the number of boosting rounds is chosen along with the rest. The
test rows are never seen here.

Candidates are proposed a batch at a time and a batch is scored side by side on
threads (LightGBM releases the GIL), each candidate on one OpenMP thread: a lone build
uses every core without OpenMP teams spinning against each other. The batch size is
fixed, so the seed alone decides what is tried, whatever the machine's width.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lightgbm as lgb
import msgspec
import numpy as np
import numpy.typing as npt
import optuna

from intentml.domain.training_report import Candidate, SearchSummary
from intentml.ml.errors import TrainingFailed
from intentml.ml.text import fmt

#: Receives build-log lines: `(percent of the build done, line)`.
ReportProgress = Callable[[int, str], None]
FloatMatrix = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]

#: Candidates tried when the request does not say, and the most it may ask for.
DEFAULT_ITERATIONS = 10
MAX_ITERATIONS = 50
#: Cross-validation folds; above CV_MAX_ROWS selection rows one validation split is used.
CV_FOLDS = 5
CV_MAX_ROWS = 50_000
VALIDATION_FRACTION = 0.2
MAX_ROUNDS = 2000
#: Early stopping's patience at the default learning rate (0.05); see `_patience`.
EARLY_STOPPING_ROUNDS = 50
#: Patience is this many learning-rate units of rounds (50 rounds at 0.05): a tree at a
#: higher rate moves the model further, so fewer rounds show that it stopped improving.
PATIENCE_STEP = 2.5
#: ... but never fewer than this many rounds (noise on small folds).
MIN_PATIENCE = 10
#: Successive halving: every candidate is screened on this many of the folds, ...
SCREEN_FOLDS = 1
#: ... and this share of them (rounded up, at least one) is cross-validated on all the
#: folds. With patience scaled to the learning rate and the screen's cap: a fifth of the
#: CPU time of cross-validating every candidate (5,000 x 20 rows), with the quality
#: benchmark's mean ratios against LightGBM's defaults and FLAML no lower (README).
FINALIST_SHARE = 0.2
#: The screen stops a candidate after this many times the default candidate's work
#: (rounds times leaves, patience included): a slow learner that has not caught up with the
#: default by then cannot win, and a costly one would take most of the screen's time.
SCREEN_WORK_FACTOR = 3
#: Random candidates (after the default) before TPE starts proposing.
RANDOM_STARTS = 3
#: Candidates are proposed (and their scores told to the sampler) this many at a time,
#: and a batch is scored side by side on up to `width` threads. The batch, not the
#: width, shapes the proposals: the same seed tries the same candidates on any machine.
SEARCH_BATCH = 2
#: A build-log line every this many boosting rounds of the longest candidate.
LOG_EVERY_ROUNDS = 100
#: Build-progress span of the search (the rest of the build shares the remainder).
PROGRESS_FROM, PROGRESS_TO = 30, 85


class Selection(msgspec.Struct, frozen=True):
    """The LightGBM metric candidates are compared by, for the user's metric."""

    lightgbm_metric: str
    label: str
    higher_is_better: bool
    #: Why it differs from the user's metric, when it does.
    note: str = ""
    #: Objectives to search over (the first is the default candidate's).
    objectives: tuple[str, ...] = ()
    #: The metric early stopping watches, when not the selection metric.
    stopping_metric: str = ""


class SearchOutcome(msgspec.Struct, frozen=True):
    """The winning configuration (LightGBM parameters and rounds) and the search's record."""

    params: dict[str, Any]
    rounds: int
    #: Rows each cross-validation model trained on (the mean over folds).
    fit_rows: int
    summary: SearchSummary

    def rounds_for(self, n_rows: int) -> int:
        """Boosting rounds for a model trained on `n_rows`: the chosen rounds scaled with
        the data, since at the same learning rate more rows support more rounds before
        they overfit (measured: on the quality benchmark's small datasets a refit that
        kept the cross-validated rounds lost to LightGBM's defaults)."""
        return max(1, round(self.rounds * n_rows / max(1, self.fit_rows)))


_THRESHOLD_METRICS = ("accuracy", "precision", "recall", "f1")


def selection_for(task: str, metric: str, counts: bool = False) -> Selection:
    """How candidates are compared when the user's metric is `metric` for `task`;
    `counts`: the target is a count, so the poisson objective is searched too."""
    if task == "regression":
        poisson = ("poisson",) if counts else ()
        if metric == "mae":
            objectives = ("regression", "regression_l1", *poisson)
            return Selection("l1", "mae", False, objectives=objectives)
        if metric == "mape":
            return Selection("mape", "mape", False, objectives=("regression", *poisson))
        note = "" if metric == "rmse" else f"{metric} is ranked the same way as rmse"
        return Selection("rmse", "rmse", False, note, objectives=("regression", *poisson))
    objective = task
    logloss = "binary_logloss" if task == "binary" else "multi_logloss"
    if metric == "roc_auc" and task == "binary":
        return Selection("auc", "roc_auc", True, objectives=(objective,), stopping_metric=logloss)
    if metric == "accuracy":
        error = "binary_error" if task == "binary" else "multi_error"
        return Selection(
            error, "error rate", False, "accuracy = 1 - error rate", (objective,), logloss
        )
    note = ""
    if metric in _THRESHOLD_METRICS or metric == "roc_auc":
        note = (
            f"{metric} jumps with single rows near the decision threshold, too noisy to "
            "compare candidates by; they are compared by log loss, which rewards the "
            f"well-ranked, calibrated probabilities {metric} is computed from"
        )
    return Selection(logloss, "log_loss", False, note, objectives=(objective,))


def search(
    matrix: FloatMatrix,
    y: npt.NDArray[np.float64],
    rows: Indices,
    base_params: dict[str, Any],
    selection: Selection,
    *,
    feature_names: list[str],
    categorical: list[int],
    stratify: bool,
    max_iterations: int,
    time_budget_s: float | None,
    seed: int,
    report: ReportProgress,
    width: int = 1,
) -> SearchOutcome:
    """Try up to `max_iterations` configurations on `rows` and return the best.

    Successive halving: every candidate is screened on one fold, and the best
    `FINALIST_SHARE` of them are cross-validated on all folds; the winner is the best
    finalist. `base_params` holds what is not searched (objective, threads, seed, ...).
    Up to `width` candidates are scored at once, each on its own thread (LightGBM
    releases the GIL; give each one OpenMP thread). Stops early when `time_budget_s`
    has passed (after at least one candidate).
    """
    run = _Run(matrix, y, rows, base_params, selection, feature_names, categorical, stratify, seed)
    clock = _Clock(time.perf_counter(), time_budget_s)
    finalists = _finalists(max_iterations, len(run.folds))
    halving = finalists < max_iterations
    steps = max_iterations + (finalists if halving else 0)
    with ThreadPoolExecutor(max(1, width), thread_name_prefix="candidate") as pool:
        candidates = _first_rung(run, pool, max_iterations, halving, clock, steps, report)
        if halving and not clock.stopped:
            candidates = _final_rung(run, pool, candidates, finalists, clock, steps, report)
    best_index = _best(candidates, selection)
    winner = candidates[best_index]
    return SearchOutcome(
        params={**base_params, **_lightgbm_params(winner.params)},
        rounds=winner.rounds,
        fit_rows=round(float(np.mean([len(fit) for fit, _ in run.folds]))),
        summary=SearchSummary(
            strategy=_strategy(max_iterations, finalists, halving),
            evaluation=_evaluation(run.folds, run.n, stratify, halving),
            selection_metric=selection.label,
            higher_is_better=selection.higher_is_better,
            candidates=candidates,
            best=best_index,
            stopped=clock.stopped,
        ),
    )


def _first_rung(
    run: _Run,
    pool: ThreadPoolExecutor,
    max_iterations: int,
    halving: bool,
    clock: _Clock,
    steps: int,
    report: ReportProgress,
) -> list[Candidate]:
    """Every candidate screened (or cross-validated, without halving): the default alone
    first (its work caps the screen's), then batches of `SEARCH_BATCH` side by side."""
    evaluate = run.screen if halving else run.cross_validated
    study = _study(run.selection, run.seed)
    study.enqueue_trial(_default_candidate(run.n, run.has_categories, run.selection))
    candidates: list[Candidate] = []
    while len(candidates) < max_iterations:
        done = len(candidates)
        if done and clock.over(f"after {done} of {max_iterations} candidates", report):
            break
        size = min(SEARCH_BATCH if done else 1, max_iterations - done)
        trials = [study.ask() for _ in range(size)]
        batch = [
            (done + k + 1, _suggest(t, run.n, run.has_categories, run.selection))
            for k, t in enumerate(trials)
        ]
        for trial, candidate in zip(trials, _map(pool, evaluate, batch), strict=True):
            study.tell(trial, candidate.score)
            candidates.append(candidate)
            best = _best(candidates, run.selection) == len(candidates) - 1
            line = _candidate_line(candidate, max_iterations, run.selection, best)
            report(_progress(len(candidates), steps), line)
    return candidates


def _map(
    pool: ThreadPoolExecutor,
    evaluate: Callable[[int, dict[str, Any]], Candidate],
    batch: Sequence[tuple[int, dict[str, Any]]],
) -> list[Candidate]:
    """`evaluate` each (iteration, searched parameters) of `batch` on the pool, the
    results in the batch's order (the first failure raised); a batch of one stays on
    the calling thread."""
    if len(batch) == 1:
        return [evaluate(*batch[0])]
    return list(pool.map(lambda item: evaluate(*item), batch))


def _final_rung(
    run: _Run,
    pool: ThreadPoolExecutor,
    candidates: list[Candidate],
    finalists: int,
    clock: _Clock,
    steps: int,
    report: ReportProgress,
) -> list[Candidate]:
    """The screened candidates with the best `finalists` of them cross-validated on all
    folds (their records replaced by the full scores), side by side on the pool; stops
    at the time budget between batches."""
    order = sorted(range(len(candidates)), key=lambda i: _key(candidates[i], run.selection))
    done = list(candidates)
    chosen: Sequence[int] = order[:finalists]
    for start in range(0, len(chosen), SEARCH_BATCH):
        where = f"after {len(candidates)} candidates and {start} finalists"
        if clock.over(where, report):
            break
        batch = chosen[start : start + SEARCH_BATCH]
        screened = [candidates[i] for i in batch]
        items = [(c.iteration, c.params) for c in screened]
        fulls = _map(pool, run.cross_validated, items)
        for k, (i, screen, full) in enumerate(zip(batch, screened, fulls, strict=True)):
            done[i] = msgspec.structs.replace(
                full, seconds=round(full.seconds + screen.seconds, 3), screen_score=screen.score
            )
            best = _best(done, run.selection) == i
            report(
                _progress(len(candidates) + start + k + 1, steps),
                _finalist_line(done[i], start + k + 1, finalists, run.selection, best),
            )
    return done


def _selection_set(
    matrix: FloatMatrix,
    y: npt.NDArray[np.float64],
    rows: Indices,
    base_params: dict[str, Any],
    feature_names: list[str],
    categorical: list[int],
) -> lgb.Dataset:
    """The selection rows as the LightGBM Dataset every candidate is cross-validated on."""
    return lgb.Dataset(
        matrix[rows],
        label=y[rows],
        feature_name=feature_names,
        categorical_feature=categorical,
        params={k: base_params[k] for k in ("verbose", "feature_pre_filter")},
        free_raw_data=False,
    )


def _study(selection: Selection, seed: int) -> optuna.Study:
    """An Optuna study in the selection metric's direction, seeded: the same seed
    proposes the same candidates."""
    direction = (
        optuna.study.StudyDirection.MAXIMIZE
        if selection.higher_is_better
        else optuna.study.StudyDirection.MINIMIZE
    )
    # constant_liar: a batch's later proposals count its unscored ones as bad, so one
    # batch spreads out instead of proposing the same region SEARCH_BATCH times.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=1 + RANDOM_STARTS, multivariate=True, constant_liar=True
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction=direction, sampler=sampler)


def _evaluation(folds: list[tuple[Indices, Indices]], n: int, stratify: bool, halving: bool) -> str:
    """How each candidate is scored, in words, for the report."""
    if len(folds) == 1:
        scored = f"one validation split ({len(folds[0][1]):,} of {n:,} rows)"
    else:
        scored = (
            f"{len(folds)}-fold {'stratified ' if stratify else ''}cross-validation on {n:,} rows"
        )
    if halving:
        screened = sum(len(valid) for _, valid in folds[:SCREEN_FOLDS])
        scored += (
            f" for the finalists; the screen validates on {SCREEN_FOLDS} of the folds "
            f"({screened:,} rows)"
        )
    return scored + (
        f", early stopping after {EARLY_STOPPING_ROUNDS} rounds without improvement at "
        f"the default learning rate (fewer at higher rates, at least {MIN_PATIENCE})"
    )


class _Run:
    """What every candidate of one search is scored with: the data as one LightGBM
    Dataset, the folds, and the metric."""

    def __init__(
        self,
        matrix: FloatMatrix,
        y: npt.NDArray[np.float64],
        rows: Indices,
        base_params: dict[str, Any],
        selection: Selection,
        feature_names: list[str],
        categorical: list[int],
        stratify: bool,
        seed: int,
    ) -> None:
        self.n = len(rows)
        self.seed = seed
        self.has_categories = bool(categorical)
        self.base_params = base_params
        self.selection = selection
        self.folds = _folds(y[rows], stratify, seed)
        self.train_set = _selection_set(matrix, y, rows, base_params, feature_names, categorical)
        #: The most rounds times leaves a screened candidate may train (set by the first).
        self.screen_work: int | None = None

    def screen(self, iteration: int, searched: dict[str, Any]) -> Candidate:
        """One candidate on the screening fold(s), its rounds capped
        at SCREEN_WORK_FACTOR times the first (default) candidate's work."""
        leaves = int(searched["num_leaves"])
        cap = MAX_ROUNDS
        if self.screen_work is not None:
            cap = max(1, min(MAX_ROUNDS, self.screen_work // leaves))
        candidate = self.score(iteration, searched, self.folds[:SCREEN_FOLDS], cap)
        if self.screen_work is None:
            patience = _patience(float(searched["learning_rate"]))
            self.screen_work = SCREEN_WORK_FACTOR * (candidate.rounds + patience) * leaves
        return candidate

    def cross_validated(self, iteration: int, searched: dict[str, Any]) -> Candidate:
        """One candidate cross-validated on all the folds."""
        return self.score(iteration, searched, self.folds)

    def score(
        self,
        iteration: int,
        searched: dict[str, Any],
        folds: list[tuple[Indices, Indices]],
        max_rounds: int = MAX_ROUNDS,
    ) -> Candidate:
        """One candidate, cross-validated on `folds`, with its score, rounds and time."""
        t0 = time.perf_counter()
        score, rounds = _cross_validate(
            {**self.base_params, **_lightgbm_params(searched)},
            self.train_set,
            folds,
            self.selection,
            max_rounds,
        )
        return Candidate(
            iteration=iteration,
            params=searched,
            score=score,
            rounds=rounds,
            seconds=round(time.perf_counter() - t0, 3),
            folds=len(folds),
        )


class _Clock:
    """The search's time budget; `stopped` says why it ran out, once it has."""

    def __init__(self, started: float, budget_s: float | None) -> None:
        self.started = started
        self.budget_s = budget_s
        self.stopped = ""

    def over(self, where: str, report: ReportProgress) -> bool:
        """Whether the budget has passed (then logged once, with `where` it stopped)."""
        if self.budget_s is None or time.perf_counter() - self.started <= self.budget_s:
            return False
        self.stopped = f"time budget of {self.budget_s:g} s reached {where}"
        report(PROGRESS_TO, f"search stopped: {self.stopped}")
        return True


def _finalists(max_iterations: int, folds: int) -> int:
    """How many candidates are cross-validated on all folds: all of them when there is
    one fold (nothing to halve), else the best `FINALIST_SHARE`."""
    if folds <= SCREEN_FOLDS:
        return max_iterations
    return max(1, math.ceil(max_iterations * FINALIST_SHARE))


def _progress(step: int, steps: int) -> int:
    return PROGRESS_FROM + (PROGRESS_TO - PROGRESS_FROM) * step // max(1, steps)


def _key(candidate: Candidate, selection: Selection) -> tuple[int, float]:
    """Sort key, best first: scores on more folds first (a finalist's cross-validated
    score is not compared with a one-fold screen score), then the score."""
    sign = -1.0 if selection.higher_is_better else 1.0
    return (-candidate.folds, sign * candidate.score)


def _best(candidates: list[Candidate], selection: Selection) -> int:
    """Index of the best candidate (the first of equals)."""
    return min(range(len(candidates)), key=lambda i: _key(candidates[i], selection))


def _strategy(max_iterations: int, finalists: int, halving: bool) -> str:
    """The search's strategy, in words, for the report."""
    tpe = (
        "Optuna multivariate TPE: a default candidate first, "
        f"{RANDOM_STARTS} random ones, then candidates proposed from the scores so far, "
        f"{SEARCH_BATCH} at a time"
    )
    if not halving:
        return tpe
    return (
        f"successive halving over {tpe}: every candidate screened on {SCREEN_FOLDS} fold, "
        f"the best {finalists} of {max_iterations} cross-validated on all folds"
    )


def _candidate_line(
    candidate: Candidate, max_iterations: int, selection: Selection, best: bool
) -> str:
    """The build-log line of one tried candidate."""
    on = f" on {candidate.folds} fold{'s' if candidate.folds > 1 else ''}"
    return (
        f"candidate {candidate.iteration}/{max_iterations}: {_describe(candidate.params)} → "
        f"{selection.label} {fmt(candidate.score)} at {candidate.rounds} rounds{on} "
        f"({candidate.seconds:.1f} s)" + (" — best so far" if best else "")
    )


def _finalist_line(
    candidate: Candidate, rank: int, finalists: int, selection: Selection, best: bool
) -> str:
    """The build-log line of one finalist, cross-validated on all folds."""
    return (
        f"finalist {rank}/{finalists}: candidate {candidate.iteration} → {selection.label} "
        f"{fmt(candidate.score)} at {candidate.rounds} rounds on {candidate.folds} folds "
        f"(screened {fmt(candidate.screen_score or 0.0)}; {candidate.seconds:.1f} s in all)"
        + (" — best so far" if best else "")
    )


def _folds(y: npt.NDArray[np.float64], stratify: bool, seed: int) -> list[tuple[Indices, Indices]]:
    """(fit, validation) index pairs into the selection rows."""
    n = len(y)
    rng = np.random.default_rng(seed + 1)
    k = CV_FOLDS if n <= CV_MAX_ROWS else 1
    if k == 1:
        order = rng.permutation(n)
        held = max(1, round(n * VALIDATION_FRACTION))
        return [(np.sort(order[held:]), np.sort(order[:held]))]
    fold_of = np.empty(n, dtype=np.int64)
    if stratify:
        # Deal each class's rows round-robin so every fold has each class in proportion.
        for label in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == label))
            fold_of[members] = (np.arange(len(members)) + rng.integers(k)) % k
    else:
        fold_of[rng.permutation(n)] = np.arange(n) % k
    everything = np.arange(n)
    return [
        (everything[fold_of != f], everything[fold_of == f])
        for f in range(k)
        if np.any(fold_of == f)
    ]


def _default_candidate(n: int, has_categories: bool, selection: Selection) -> dict[str, Any]:
    params: dict[str, Any] = {
        "learning_rate": 0.05,
        "num_leaves": min(31, _max_leaves(n)),
        # LightGBM's 20 rows per leaf leaves tiny datasets with no splits.
        "min_data_in_leaf": int(min(20, max(2, n // 50))),
        "feature_fraction": 1.0,
        "bagging_fraction": 1.0,
        "lambda_l2": 1e-3,
    }
    if has_categories:
        params["cat_smooth"] = 10.0
    if len(selection.objectives) > 1:
        params["objective"] = selection.objectives[0]
    return params


def _max_leaves(n: int) -> int:
    return int(max(4, min(256, n // 8)))


def _suggest(
    trial: optuna.Trial, n: int, has_categories: bool, selection: Selection
) -> dict[str, Any]:
    """The searched parameters of one candidate; the space shrinks with the data."""
    params: dict[str, Any] = {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, _max_leaves(n), log=True),
        "min_data_in_leaf": trial.suggest_int(
            "min_data_in_leaf", 2, int(max(3, min(200, n // 10))), log=True
        ),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    }
    if has_categories:
        params["cat_smooth"] = trial.suggest_float("cat_smooth", 1.0, 100.0, log=True)
    if len(selection.objectives) > 1:
        params["objective"] = trial.suggest_categorical("objective", list(selection.objectives))
    return {k: _rounded(v) for k, v in params.items()}


def _rounded(value: Any) -> Any:
    return float(f"{value:.4g}") if isinstance(value, float) else value


def _lightgbm_params(searched: dict[str, Any]) -> dict[str, Any]:
    params = dict(searched)
    params["min_data_per_group"] = int(min(100, max(5, params["min_data_in_leaf"])))
    if params["bagging_fraction"] < 1.0:
        params["bagging_freq"] = 1
    return params


def _cross_validate(
    params: dict[str, Any],
    train_set: lgb.Dataset,
    folds: list[tuple[Indices, Indices]],
    selection: Selection,
    max_rounds: int = MAX_ROUNDS,
) -> tuple[float, int]:
    """(mean validation score at the best round, best round) for one candidate, trained
    for at most `max_rounds`.

    What `lgb.cv` with `early_stopping(first_metric_only=True)` computes (the same
    boosters, rounds and means), without its per-round standard deviations and
    callbacks: a fifth of a small search's time went there. Classifiers stop early on
    log loss whatever the selection metric: AUC or error rate plateau after a few
    rounds while the probabilities are still far from calibrated, and stopping there
    leaves a model that predicts the base rate.
    """
    stop_on = selection.stopping_metric or selection.lightgbm_metric
    metrics = list(dict.fromkeys([stop_on, selection.lightgbm_metric]))
    params = {**params, "metric": metrics}
    try:
        full = train_set.construct()
        boosters = []
        for fit, valid in folds:
            booster = lgb.Booster(params, full.subset(fit.tolist(), params=params))
            booster.add_valid(full.subset(valid.tolist(), params=params), "valid")
            boosters.append(booster)
        means = _boost(boosters, max_rounds, _patience(float(params["learning_rate"])))
    except lgb.basic.LightGBMError as exc:
        raise TrainingFailed("training_error", f"LightGBM could not train: {exc}") from exc
    if selection.lightgbm_metric not in means:
        raise TrainingFailed(
            "evaluation_failed",
            f"{selection.label} could not be computed on the validation folds",
        )
    curve = means[selection.lightgbm_metric]
    score = curve[-1]
    if not math.isfinite(score):
        raise TrainingFailed(
            "evaluation_failed", f"{selection.label} is undefined on the validation folds"
        )
    return score, len(curve)


def _boost(boosters: list[lgb.Booster], max_rounds: int, patience: int) -> dict[str, list[float]]:
    """Boost the fold models in step until the first metric's mean over the folds has not
    improved for `patience` rounds (or `max_rounds`); each metric's mean per round, up
    to the best round."""
    means: dict[str, list[float]] = {}
    best_round, best = 0, math.nan
    for round_ in range(max_rounds):
        for booster in boosters:
            booster.update()
        by_metric: dict[str, list[float]] = {}
        higher_is_better = False
        for booster in boosters:
            for i, result in enumerate(booster.eval_valid()):  # (data, metric, value, higher)
                by_metric.setdefault(result[1], []).append(result[2])
                higher_is_better = result[3] if i == 0 else higher_is_better
        for metric, values in by_metric.items():
            means.setdefault(metric, []).append(float(np.mean(values)))
        first = means[next(iter(by_metric))][-1]
        if round_ == 0 or (first > best if higher_is_better else first < best):
            best_round, best = round_, first
        elif round_ - best_round >= patience:
            break
    return {metric: curve[: best_round + 1] for metric, curve in means.items()}


def _patience(learning_rate: float) -> int:
    """Rounds without improvement before a candidate stops: `PATIENCE_STEP` learning-rate
    units of rounds, between MIN_PATIENCE and EARLY_STOPPING_ROUNDS."""
    steps = round(PATIENCE_STEP / learning_rate)
    return int(min(EARLY_STOPPING_ROUNDS, max(MIN_PATIENCE, steps)))


_SHORT_NAMES = {
    "learning_rate": "lr",
    "num_leaves": "leaves",
    "min_data_in_leaf": "min_leaf",
    "feature_fraction": "features",
    "bagging_fraction": "rows",
    "lambda_l2": "l2",
    "cat_smooth": "cat_smooth",
    "objective": "objective",
}


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{_SHORT_NAMES.get(k, k)}={v:g}" if isinstance(v, float) else f"{_SHORT_NAMES[k]}={v}"
        for k, v in params.items()
    )
