"""The configuration search on small synthetic problems: folds, selection, budgets, records."""

from __future__ import annotations

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
    assert summary.candidates[summary.best].score == max(c.score for c in summary.candidates)
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
    # One line per candidate, with its score; progress grows up to the search's share.
    candidate_lines = [(pct, line) for pct, line in lines if line.startswith("candidate ")]
    assert len(candidate_lines) == 6
    assert [pct for pct, _ in candidate_lines] == sorted(pct for pct, _ in candidate_lines)
    assert candidate_lines[-1][0] == s.PROGRESS_TO
    assert all(" → roc_auc 0." in line for _, line in candidate_lines)


def test_same_seed_same_search() -> None:
    first, _ = _run(4)
    second, _ = _run(4)
    assert [c.params for c in first.summary.candidates] == [
        c.params for c in second.summary.candidates
    ]
    assert [c.score for c in first.summary.candidates] == [
        c.score for c in second.summary.candidates
    ]


def test_time_budget_stops_the_search_after_one_candidate() -> None:
    outcome, lines = _run(5, time_budget_s=1e-9)
    assert len(outcome.summary.candidates) == 1
    assert outcome.summary.stopped.startswith("time budget of 1e-09 s reached after 1 of 5")
    assert lines[-1][1].startswith("search stopped: time budget")


def test_the_search_beats_or_matches_its_default_candidate() -> None:
    outcome, _ = _run(8)
    candidates = outcome.summary.candidates
    assert candidates[outcome.summary.best].score >= candidates[0].score


def test_a_count_target_searches_the_poisson_objective_too() -> None:
    assert s.selection_for("regression", "rmse", counts=True).objectives == (
        "regression",
        "poisson",
    )
    assert "poisson" not in s.selection_for("regression", "rmse").objectives
