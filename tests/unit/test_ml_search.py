"""The configuration search on small synthetic problems: folds, selection, budgets, records."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from intentml.ml import search as s


def _problem(
    n: int = 400, seed: int = 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = ((x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 0.5, n)) > 0).astype(np.float64)
    return x, y


def _run(max_iterations: int, **overrides: object) -> tuple[s.SearchOutcome, list[tuple[int, str]]]:
    x, y = _problem()
    lines: list[tuple[int, str]] = []
    kwargs: dict[str, object] = {
        "feature_names": ["a", "b", "c", "d"],
        "categorical": [],
        "stratify": True,
        "max_iterations": max_iterations,
        "time_budget_s": None,
        "seed": 3,
        "report": lambda pct, line: lines.append((pct, line)),
    }
    kwargs.update(overrides)
    outcome = s.search(
        x,
        y,
        np.arange(len(y)),
        {"objective": "binary", "verbose": -1, "feature_pre_filter": False, "num_threads": 1},
        s.selection_for("binary", "roc_auc"),
        **kwargs,  # type: ignore[arg-type]
    )
    return outcome, lines


@pytest.mark.parametrize(
    ("task", "metric", "lightgbm_metric", "higher", "stops_on"),
    [
        ("binary", "roc_auc", "auc", True, "binary_logloss"),
        ("binary", "accuracy", "binary_error", False, "binary_logloss"),
        ("binary", "f1", "binary_logloss", False, ""),
        ("binary", "log_loss", "binary_logloss", False, ""),
        ("multiclass", "accuracy", "multi_error", False, "multi_logloss"),
        ("multiclass", "f1", "multi_logloss", False, ""),
        ("multiclass", "roc_auc", "multi_logloss", False, ""),
        ("regression", "rmse", "rmse", False, ""),
        ("regression", "r2", "rmse", False, ""),
        ("regression", "mae", "l1", False, ""),
        ("regression", "mape", "mape", False, ""),
    ],
)
def test_selection_for(
    task: str, metric: str, lightgbm_metric: str, higher: bool, stops_on: str
) -> None:
    selection = s.selection_for(task, metric)
    assert selection.lightgbm_metric == lightgbm_metric
    assert selection.higher_is_better is higher
    assert selection.stopping_metric == stops_on
    # Whenever candidates are compared by something else than the user's metric, say why.
    same = {
        "auc": "roc_auc",
        "l1": "mae",
        "binary_logloss": "log_loss",
        "multi_logloss": "log_loss",
    }
    assert bool(selection.note) == (same.get(lightgbm_metric, lightgbm_metric) != metric)


def test_mae_searches_the_objective_too() -> None:
    assert s.selection_for("regression", "mae").objectives == ("regression", "regression_l1")


def test_stratified_folds_partition_the_rows_and_keep_each_class() -> None:
    y = np.array([0.0] * 90 + [1.0] * 10)
    folds = s._folds(y, stratify=True, seed=1)
    assert len(folds) == s.CV_FOLDS
    held = np.concatenate([val for _, val in folds])
    assert sorted(held.tolist()) == list(range(100))  # every row validated exactly once
    for fit, val in folds:
        assert not set(fit.tolist()) & set(val.tolist())
        assert y[val].sum() == 2  # 10 positives dealt over 5 folds


def test_large_data_gets_one_validation_split() -> None:
    y = np.zeros(s.CV_MAX_ROWS + 10)
    folds = s._folds(y, stratify=False, seed=1)
    assert len(folds) == 1
    fit, val = folds[0]
    assert len(val) == round(len(y) * s.VALIDATION_FRACTION)
    assert len(fit) + len(val) == len(y)


def test_search_tries_max_iterations_and_keeps_the_best() -> None:
    outcome, lines = _run(6)
    summary = outcome.summary
    assert [c.iteration for c in summary.candidates] == [1, 2, 3, 4, 5, 6]
    # The winner is the best of the finalists, the only candidates scored on all folds.
    finalists = [c for c in summary.candidates if c.folds == s.CV_FOLDS]
    assert summary.candidates[summary.best] in finalists
    assert summary.candidates[summary.best].score == max(c.score for c in finalists)
    assert outcome.rounds == summary.candidates[summary.best].rounds >= 1
    assert outcome.fit_rows == 320  # 4 of 5 folds of 400 rows
    assert outcome.rounds_for(640) == 2 * outcome.rounds
    assert outcome.rounds_for(1) == 1
    assert (
        outcome.params["learning_rate"] == summary.candidates[summary.best].params["learning_rate"]
    )
    assert outcome.params["objective"] == "binary"  # base parameters are kept
    # The first candidate is the default, then the search moves away from it.
    assert summary.candidates[0].params["learning_rate"] == 0.05
    assert len({c.params["learning_rate"] for c in summary.candidates}) == 6
    # One line per candidate, then one per finalist; progress grows up to the search's share.
    candidate_lines = [(pct, line) for pct, line in lines if line.startswith("candidate ")]
    finalist_lines = [(pct, line) for pct, line in lines if line.startswith("finalist ")]
    assert len(candidate_lines) == 6 and len(finalist_lines) == 2
    progress = [pct for pct, _ in candidate_lines + finalist_lines]
    assert progress == sorted(progress) and progress[-1] == s.PROGRESS_TO
    assert all(" → roc_auc 0." in line for _, line in candidate_lines + finalist_lines)
    assert all(" on 1 fold " in line for _, line in candidate_lines)
    assert all(" on 5 folds " in line for _, line in finalist_lines)


def test_successive_halving_cross_validates_the_best_screened_candidates() -> None:
    outcome, _ = _run(10)
    summary = outcome.summary
    # ceil(10 x FINALIST_SHARE) = 2 finalists: the two best screen scores.
    finalists = [c for c in summary.candidates if c.folds == s.CV_FOLDS]
    screened = [c for c in summary.candidates if c.folds == s.SCREEN_FOLDS]
    assert len(finalists) == 2 and len(screened) == 8
    assert all(c.screen_score is not None for c in finalists)
    assert all(c.screen_score is None for c in screened)
    worst_finalist = min(c.screen_score or 0.0 for c in finalists)
    assert all(c.score <= worst_finalist for c in screened)
    # The record says what was done: screened on one fold, the best two on all five.
    assert "successive halving" in summary.strategy
    assert "the best 2 of 10 cross-validated on all folds" in summary.strategy
    assert summary.evaluation.startswith("5-fold stratified cross-validation on 400 rows for")
    assert "the screen validates on 1 of the folds (80 rows)" in (summary.evaluation)
    # A finalist's seconds include its screen.
    assert all(c.seconds > 0 for c in summary.candidates)


def test_one_candidate_is_cross_validated_without_a_screen() -> None:
    outcome, lines = _run(1)
    (only,) = outcome.summary.candidates
    assert only.folds == s.CV_FOLDS and only.screen_score is None
    assert "successive halving" not in outcome.summary.strategy
    assert not any(line.startswith("finalist ") for _, line in lines)


def test_screen_caps_costly_candidates_at_a_multiple_of_the_defaults_work() -> None:
    x, y = _problem()
    run = s._Run(
        x,
        y,
        np.arange(len(y)),
        {"objective": "binary", "verbose": -1, "feature_pre_filter": False, "num_threads": 1},
        s.selection_for("binary", "roc_auc"),
        ["a", "b", "c", "d"],
        [],
        True,
        3,
    )
    default = s._default_candidate(run.n, False, run.selection)
    first = run.screen(1, default)
    patience = s._patience(0.05)
    work = s.SCREEN_WORK_FACTOR * (first.rounds + patience) * default["num_leaves"]
    assert run.screen_work == work
    # A slow, wide learner is stopped at the cap (and scored at its best round so far).
    slow = {**default, "learning_rate": 0.001, "num_leaves": 40}
    capped = run.screen(2, slow)
    assert capped.rounds <= work // 40 < s.MAX_ROUNDS
    assert capped.folds == 1


@pytest.mark.parametrize(
    ("learning_rate", "patience"),
    [(0.02, 50), (0.05, 50), (0.1, 25), (0.25, 10), (0.3, 10)],
)
def test_patience_shrinks_with_the_learning_rate(learning_rate: float, patience: int) -> None:
    assert s._patience(learning_rate) == patience


def test_same_seed_same_search() -> None:
    first, _ = _run(4)
    second, _ = _run(4)
    assert [c.params for c in first.summary.candidates] == [
        c.params for c in second.summary.candidates
    ]
    assert [c.score for c in first.summary.candidates] == [
        c.score for c in second.summary.candidates
    ]


def test_the_width_scores_side_by_side_and_never_changes_the_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    narrow, narrow_lines = _run(5, width=1)
    # The two batches after the default (candidates 2-3 and 4-5) meet at a barrier of
    # their size: a search that scored a batch one candidate after the other would
    # break it (a timeout, not a hang). The one finalist comes alone.
    cross_validate = s._cross_validate
    meetings = threading.Barrier(s.SEARCH_BATCH, timeout=30)
    calls: list[str] = []

    def meeting(*args: Any, **kwargs: Any) -> tuple[float, int]:
        calls.append(threading.current_thread().name)
        if 1 < len(calls) <= 5:
            meetings.wait()
        return cross_validate(*args, **kwargs)

    monkeypatch.setattr(s, "_cross_validate", meeting)
    wide, wide_lines = _run(5, width=s.SEARCH_BATCH)
    assert len({name for name in calls if name.startswith("candidate")}) == s.SEARCH_BATCH
    # The batch, not the width, decides what is proposed: the same seed tries the same
    # candidates, scores them the same and logs them in the same order.
    assert [c.params for c in wide.summary.candidates] == [
        c.params for c in narrow.summary.candidates
    ]
    assert [c.score for c in wide.summary.candidates] == [
        c.score for c in narrow.summary.candidates
    ]
    assert [line.split(" (")[0] for _, line in wide_lines] == [
        line.split(" (")[0] for _, line in narrow_lines
    ]


def test_time_budget_stops_the_search_after_one_candidate() -> None:
    outcome, lines = _run(5, time_budget_s=1e-9)
    assert len(outcome.summary.candidates) == 1
    assert outcome.summary.stopped.startswith("time budget of 1e-09 s reached after 1 of 5")
    assert lines[-1][1].startswith("search stopped: time budget")
    # The one screened candidate is served, with its one-fold rounds.
    assert outcome.summary.best == 0 and outcome.rounds == outcome.summary.candidates[0].rounds


def test_time_budget_before_the_finalists_serves_the_best_screened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    over = s._Clock.over

    def over_at_the_finals(clock: s._Clock, where: str, report: s.ReportProgress) -> bool:
        if "finalists" in where:
            clock.budget_s = 0.0
        return over(clock, where, report)

    monkeypatch.setattr(s._Clock, "over", over_at_the_finals)
    outcome, lines = _run(5, time_budget_s=1e9)
    summary = outcome.summary
    assert len(summary.candidates) == 5
    assert all(c.folds == s.SCREEN_FOLDS for c in summary.candidates)
    assert summary.candidates[summary.best].score == max(c.score for c in summary.candidates)
    assert summary.stopped.startswith("time budget of 0 s reached after 5 candidates")
    assert lines[-1][1].startswith("search stopped: time budget")


def test_the_search_beats_or_matches_its_default_candidate() -> None:
    outcome, _ = _run(8)
    candidates = outcome.summary.candidates
    best, default = candidates[outcome.summary.best], candidates[0]
    if default.folds == best.folds:  # the default was a finalist too
        assert best.score >= default.score
    else:  # it was screened out by better screen scores
        assert best.screen_score is not None and best.screen_score >= default.score


def test_a_count_target_searches_the_poisson_objective_too() -> None:
    assert s.selection_for("regression", "rmse", counts=True).objectives == (
        "regression",
        "poisson",
    )
    assert "poisson" not in s.selection_for("regression", "rmse").objectives
