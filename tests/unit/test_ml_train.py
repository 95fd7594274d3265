"""Training on synthetic data with known rules: tasks, dropped columns, failures, artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from intentml.domain.training_options import TrainingOptions
from intentml.ml.datasets import read_dataset
from intentml.ml.evaluation import baseline_warning, compare_with_baseline
from intentml.ml.serving import LoadedModel
from intentml.ml.task import Target
from intentml.ml.train import (
    TrainingFailed,
    TrainingResult,
    TrainingSpec,
    build_matrix,
    fit_and_score,
    package,
    prepare,
    select,
    train,
)


def churn_frame(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Customers churn when usage is below 100 minutes, with 5 % of labels flipped."""
    rng = np.random.default_rng(seed)
    usage = rng.uniform(0, 300, n).round(1)
    churned = (usage < 100) ^ (rng.random(n) < 0.05)
    days = rng.integers(0, 700, n).astype("timedelta64[D]")
    signup = (np.datetime64("2022-01-01") + days).astype(str)
    signup[rng.random(n) < 0.1] = ""  # some customers have no signup date
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "usage_minutes": usage,
            "plan": rng.choice(["basic", "pro", "enterprise"], n),
            "signup_date": signup,
            "region": "EU",
            "tickets": rng.integers(0, 6, n),
            "autopay": rng.random(n) < 0.5,
            "last_seen": [
                f"2024-03-{d:02d}T{h:02d}:{m:02d}:07+02:00"
                for d, h, m in zip(
                    rng.integers(1, 29, n),
                    rng.integers(0, 24, n),
                    rng.integers(0, 60, n),
                    strict=True,
                )
            ],
            "churned": churned,
        }
    )


ChurnRun = tuple[Path, Path, TrainingResult, list[tuple[int, str]]]


def quick(**fields: Any) -> TrainingSpec:
    """A spec whose search tries two candidates: for tests about something else.
    `fields` are those of `TrainingSpec` and of its `TrainingOptions`."""
    options = {k: fields.pop(k) for k in list(fields) if k in TrainingOptions.__struct_fields__}
    return TrainingSpec(**fields, options=TrainingOptions(**{"max_iterations": 2, **options}))


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def churn_run(tmp_path_factory: pytest.TempPathFactory) -> ChurnRun:
    root = tmp_path_factory.mktemp("churn")
    data = write_csv(churn_frame(), root / "churn.csv")
    lines: list[tuple[int, str]] = []
    result = train(
        data,
        "csv",
        TrainingSpec(
            target="churned", intent="Predict customer churn", target_reason="named in the test"
        ),
        root / "artifact",
        progress=lambda pct, line: lines.append((pct, line)),
    )
    return data, root / "artifact", result, lines


def test_binary_result(churn_run: ChurnRun) -> None:
    _, _, result, _ = churn_run
    assert result.task == "binary"
    assert result.metric_name == "roc_auc"
    assert result.metric_value > 0.85
    assert result.metrics["roc_auc"] == result.metric_value
    assert {"accuracy", "precision", "recall", "f1", "log_loss"} <= set(result.metrics)
    assert result.rows_used == 1500
    assert result.training_seconds > 0


def test_unusable_columns_are_dropped_with_reasons(
    churn_run: ChurnRun,
) -> None:
    _, _, result, _ = churn_run
    assert set(result.dropped_columns) == {"customer_id", "region"}
    assert "identifier" in result.dropped_columns["customer_id"]
    assert "same value" in result.dropped_columns["region"]
    assert result.features == [
        "usage_minutes",
        "plan",
        "signup_date",
        "tickets",
        "autopay",
        "last_seen",
    ]


def test_feature_importance(churn_run: ChurnRun) -> None:
    _, _, result, _ = churn_run
    importance = result.feature_importance
    assert set(importance) == set(result.features)
    assert sum(importance.values()) == pytest.approx(1.0)
    assert max(importance, key=importance.__getitem__) == "usage_minutes"


def test_progress_lines(churn_run: ChurnRun) -> None:
    _, _, result, lines = churn_run
    percents = [pct for pct, _ in lines]
    assert percents == sorted(percents)
    assert percents[0] == 10 and percents[-1] == 100
    text = "\n".join(line for _, line in lines)
    assert "loaded 1,500 rows × 9 columns" in text  # noqa: RUF001
    assert "dropped column 'customer_id'" in text
    assert "metric: roc_auc (binary default" in text
    for i in range(1, 11):
        assert f"candidate {i}/10: " in text
    assert "chose candidate" in text
    assert f"test roc_auc {result.metric_value:.3f} on 300 held-out rows" in text


def test_artifact_files(churn_run: ChurnRun) -> None:
    _, artifact, result, _ = churn_run
    assert sorted(p.name for p in artifact.iterdir()) == ["meta.json", "model.txt"]
    # nothing half-written is left next to it
    assert [p.name for p in artifact.parent.iterdir() if p.name.startswith(".")] == []
    meta = json.loads((artifact / "meta.json").read_text())
    assert meta["task"] == "binary"
    assert meta["classes"] == ["false", "true"]
    assert meta["positive_class"] == "true"
    assert meta["ignored_columns"] == ["customer_id", "region"]
    plan = next(i for i in meta["inputs"] if i["name"] == "plan")
    assert plan["kind"] == "category"
    assert sorted(plan["categories"]) == ["basic", "enterprise", "pro"]
    signup = next(i for i in meta["inputs"] if i["name"] == "signup_date")
    assert signup["kind"] == "date"
    assert signup["required"] is False  # it had missing values in training
    last_seen = next(i for i in meta["inputs"] if i["name"] == "last_seen")
    assert last_seen["kind"] == "datetime"
    assert meta["matrix_columns"][-6:] == [
        "last_seen.year",
        "last_seen.month",
        "last_seen.day",
        "last_seen.dayofweek",
        "last_seen.epoch_days",
        "last_seen.hour",
    ]
    assert result.input_schema["required"] == [
        "usage_minutes",
        "plan",
        "tickets",
        "autopay",
        "last_seen",
    ]


def test_training_matrix_equals_serving_matrix(
    churn_run: ChurnRun,
) -> None:
    data, artifact, _, _ = churn_run
    model = LoadedModel.load(artifact)
    df = read_dataset(data, "csv")
    expected = build_matrix(df, model.meta.inputs)
    rows: list[dict[str, Any]] = [
        {str(k): (None if pd.isna(v) else v) for k, v in row.items()}
        for row in pd.read_csv(data).to_dict("records")
    ]
    assert isinstance(rows[0]["autopay"], bool | np.bool_)
    assert rows[0]["last_seen"].endswith("+02:00")  # serving parses the raw strings
    np.testing.assert_array_equal(model.matrix(rows), expected)
    assert not np.isnan(expected[:, -6:]).any()


def test_same_seed_same_model(tmp_path: Path) -> None:
    data = write_csv(churn_frame(400, seed=3), tmp_path / "c.csv")
    spec = quick(target="churned")
    first = train(data, "csv", spec, tmp_path / "a")
    second = train(data, "csv", spec, tmp_path / "b")
    assert first.metrics == second.metrics
    model_a = (tmp_path / "a" / "model.txt").read_text()
    model_b = (tmp_path / "b" / "model.txt").read_text()
    assert model_a == model_b


def test_retraining_replaces_the_artifact(tmp_path: Path) -> None:
    data = write_csv(churn_frame(300, seed=4), tmp_path / "c.csv")
    train(data, "csv", quick(target="churned"), tmp_path / "art")
    (tmp_path / "art" / "stale.txt").write_text("from an earlier attempt")
    train(data, "csv", quick(target="churned", seed=11), tmp_path / "art")
    assert sorted(p.name for p in (tmp_path / "art").iterdir()) == ["meta.json", "model.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art", "c.csv"]


def test_regression(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 800
    x1, x2 = rng.normal(size=n), rng.uniform(0, 10, n)
    city = rng.choice(["a", "b", "c"], n)
    price = 50 + 20 * x1 + 5 * x2 + np.where(city == "a", 30.0, 0.0) + rng.normal(0, 2, n)
    frame = pd.DataFrame({"row": np.arange(n), "x1": x1, "x2": x2, "city": city, "price": price})
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "p.parquet")
    result = train(tmp_path / "p.parquet", "parquet", quick(target="price"), tmp_path / "art")
    assert result.task == "regression"
    assert result.metric_name == "rmse"
    assert result.metrics["r2"] > 0.9
    assert result.metric_value < 10
    assert "identifier" in result.dropped_columns["row"]  # 0..n-1 is a row number
    model = LoadedModel.load(tmp_path / "art")
    out = model.predict_one({"x1": 0.0, "x2": 5.0, "city": "a"})
    assert set(out) == {"price"}
    assert isinstance(out["price"], float)
    assert 90 < out["price"] < 120  # 50 + 25 + 30


def test_multiclass(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 900
    spend = rng.uniform(0, 300, n)
    segment = np.select([spend < 100, spend < 200], ["low", "mid"], "high")
    rows = [
        json.dumps({"spend": round(float(s), 2), "visits": int(v), "segment": str(g)})
        for s, v, g in zip(spend, rng.integers(0, 20, n), segment, strict=True)
    ]
    (tmp_path / "d.jsonl").write_text("\n".join(rows) + "\n")
    result = train(tmp_path / "d.jsonl", "jsonl", quick(target="segment"), tmp_path / "art")
    assert result.task == "multiclass"
    assert result.metric_name == "accuracy"
    assert result.metric_value > 0.9
    model = LoadedModel.load(tmp_path / "art")
    assert model.meta.classes == ["high", "low", "mid"]
    out = model.predict_one({"spend": 250.0, "visits": 3})
    assert out["segment"] == "high"
    assert set(out["probabilities"]) == {"high", "low", "mid"}
    assert sum(out["probabilities"].values()) == pytest.approx(1.0)


def test_integer_labels_come_back_as_integers(tmp_path: Path) -> None:
    frame = churn_frame(400, seed=5)
    frame["churned"] = frame["churned"].astype(int)
    data = write_csv(frame, tmp_path / "c.csv")
    train(data, "csv", quick(target="churned", metric="f1_score"), tmp_path / "art")
    model = LoadedModel.load(tmp_path / "art")
    assert model.meta.classes == ["0", "1"]
    assert model.meta.metric_name == "f1"
    out = model.predict_one({"usage_minutes": 5.0, "plan": "pro", "tickets": 1})
    assert out["churned"] == 1 and type(out["churned"]) is int


def test_yes_no_target_uses_yes_as_positive(tmp_path: Path) -> None:
    frame = churn_frame(400, seed=6)
    frame["churned"] = np.where(frame["churned"], "Yes", "No")
    data = write_csv(frame, tmp_path / "c.csv")
    train(data, "csv", quick(target="churned"), tmp_path / "art")
    model = LoadedModel.load(tmp_path / "art")
    assert model.meta.classes == ["No", "Yes"]
    out = model.predict_one({"usage_minutes": 5.0, "plan": "pro", "tickets": 1})
    assert out == {"churned_probability": out["churned_probability"], "churned": "Yes"}
    assert out["churned_probability"] > 0.5


def test_sparse_and_numeric_id_columns(tmp_path: Path) -> None:
    frame = churn_frame(500, seed=7)
    frame["account_no"] = np.arange(10_000, 10_500)[::-1]
    frame["revenue"] = np.random.default_rng(0).uniform(0, 1000, 500).round(4)  # unique, kept
    notes = np.full(500, "", dtype=object)
    notes[:10] = "call back"
    frame["notes"] = notes
    data = write_csv(frame, tmp_path / "c.csv")
    result = train(data, "csv", quick(target="churned"), tmp_path / "art")
    assert "identifier" in result.dropped_columns["account_no"]
    assert "98% of values are missing" in result.dropped_columns["notes"]
    assert "revenue" in result.features


# ------------------------------------------------------------------------ failures


def _failure(tmp_path: Path, frame: pd.DataFrame, spec: TrainingSpec) -> TrainingFailed:
    data = write_csv(frame, tmp_path / "d.csv")
    with pytest.raises(TrainingFailed) as info:
        train(data, "csv", spec, tmp_path / "art")
    assert not (tmp_path / "art").exists()
    return info.value


def test_single_class_target(tmp_path: Path) -> None:
    frame = churn_frame(200)
    frame["churned"] = True
    failure = _failure(tmp_path, frame, quick(target="churned"))
    assert failure.code == "target_single_class"
    assert "same value" in str(failure)


def test_too_few_rows(tmp_path: Path) -> None:
    failure = _failure(tmp_path, churn_frame(10), quick(target="churned"))
    assert failure.code == "too_few_rows"
    assert "only 10 rows" in str(failure)


def test_rows_without_a_target_do_not_count(tmp_path: Path) -> None:
    frame = churn_frame(60).astype({"churned": object})
    frame.loc[5:, "churned"] = None
    failure = _failure(tmp_path, frame, quick(target="churned"))
    assert failure.code == "too_few_rows"


def test_unknown_metric(tmp_path: Path) -> None:
    failure = _failure(tmp_path, churn_frame(50), quick(target="churned", metric="gini"))
    assert failure.code == "unknown_metric"
    assert "roc_auc" in str(failure)


def test_metric_for_the_wrong_task(tmp_path: Path) -> None:
    failure = _failure(tmp_path, churn_frame(50), quick(target="churned", metric="rmse"))
    assert failure.code == "metric_not_applicable"


def test_unknown_task(tmp_path: Path) -> None:
    failure = _failure(tmp_path, churn_frame(50), quick(target="churned", task="ranking"))
    assert failure.code == "unknown_task"


def test_regression_of_text(tmp_path: Path) -> None:
    failure = _failure(tmp_path, churn_frame(50), quick(target="plan", task="regression"))
    assert failure.code == "task_mismatch"


def test_missing_target(tmp_path: Path) -> None:
    failure = _failure(tmp_path, churn_frame(50), quick(target="churn"))
    assert failure.code == "target_missing"
    assert "churned" in str(failure)


def test_unreadable_dataset(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(TrainingFailed) as info:
        train(tmp_path / "bad.csv", "csv", quick(target="a"), tmp_path / "art")
    assert info.value.code == "dataset_invalid"
    assert "line 3" in str(info.value)


# ------------------------------------------------------------------------- report


def test_report_explains_every_choice(churn_run: ChurnRun) -> None:
    _, _, result, _ = churn_run
    report = result.report
    assert report is not None
    assert report.target.value == "churned" and report.target.reason == "named in the test"
    assert report.task.value == "binary" and "2 distinct values" in report.task.reason
    assert report.metric.value == "roc_auc" and "balanced" in report.metric.reason
    data = report.data
    assert (data.rows_total, data.rows_used, data.rows_missing_target) == (1500, 1500, 0)
    assert data.selection_rows + data.test_rows == 1500
    assert data.test_rows == report.test.rows == 300
    assert set(data.dropped_columns) == {"customer_id", "region"}
    assert report.warnings == []


def test_report_search_leaderboard(churn_run: ChurnRun) -> None:
    _, _, result, _ = churn_run
    assert result.report is not None
    search = result.report.search
    assert len(search.candidates) == 10
    assert [c.iteration for c in search.candidates] == list(range(1, 11))
    assert search.higher_is_better and search.selection_metric == "roc_auc"
    best = search.candidates[search.best]
    # Successive halving: the best two of ten screened candidates are cross-validated on
    # all five folds, and the winner is the better of those two.
    finalists = [c for c in search.candidates if c.folds == 5]
    assert len(finalists) == 2 and best in finalists
    assert best.score == max(c.score for c in finalists)
    assert all(c.folds == 1 and c.screen_score is None for c in search.candidates if c.folds != 5)
    # The served model learns from all 1,500 rows, so it gets proportionally more rounds
    # than the 960-row cross-validation models the rounds were chosen on.
    assert result.best_iteration == round(best.rounds * 1500 / 960)
    # A real search: the candidates differ from one another.
    assert len({tuple(sorted(c.params.items())) for c in search.candidates}) == 10
    assert "5-fold stratified cross-validation on 1,200 rows" in search.evaluation


def test_report_confusion_matrix(churn_run: ChurnRun) -> None:
    _, _, result, _ = churn_run
    assert result.report is not None
    test = result.report.test
    assert test.labels == ["false", "true"]
    matrix = np.array(test.confusion_matrix)
    assert matrix.shape == (2, 2) and matrix.sum() == 300
    accuracy = np.trace(matrix) / matrix.sum()
    assert accuracy == pytest.approx(result.metrics["accuracy"])
    positive = test.per_class["true"]
    assert positive.support == matrix[1].sum()
    assert positive.recall == pytest.approx(matrix[1, 1] / matrix[1].sum(), abs=1e-6)
    assert positive.f1 == pytest.approx(result.metrics["f1"], abs=1e-6)


def test_multiclass_report_has_per_class_scores(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    n = 600
    spend = rng.uniform(0, 300, n)
    frame = pd.DataFrame(
        {"spend": spend, "segment": np.select([spend < 100, spend < 200], ["low", "mid"], "high")}
    )
    result = train(
        write_csv(frame, tmp_path / "m.csv"), "csv", quick(target="segment"), tmp_path / "a"
    )
    assert result.report is not None
    test = result.report.test
    assert test.labels == ["high", "low", "mid"]
    assert set(test.per_class) == {"high", "low", "mid"}
    assert sum(s.support for s in test.per_class.values()) == test.rows
    assert np.array(test.confusion_matrix).sum() == test.rows


def test_max_iterations_and_time_budget(tmp_path: Path) -> None:
    data = write_csv(churn_frame(300, seed=9), tmp_path / "c.csv")
    lines: list[str] = []
    result = train(
        data,
        "csv",
        TrainingSpec(
            target="churned", options=TrainingOptions(max_iterations=4, time_budget_s=1e-6)
        ),
        tmp_path / "art",
        progress=lambda _, line: lines.append(line),
    )
    assert result.report is not None
    search = result.report.search
    assert len(search.candidates) == 1  # the budget is spent, but one candidate always runs
    assert "time budget of 1e-06 s reached after 1 of 4 candidates" in search.stopped
    assert any(line.startswith("search stopped: time budget") for line in lines)


def test_max_iterations_out_of_range(tmp_path: Path) -> None:
    failure = _failure(tmp_path, churn_frame(50), quick(target="churned", max_iterations=51))
    assert failure.code == "invalid_max_iterations"


def test_leaky_column_is_warned_about(tmp_path: Path) -> None:
    frame = churn_frame(600, seed=10)
    # Recorded after the outcome: only churned customers have a cancellation reason code.
    frame["cancel_code"] = np.where(frame["churned"], 3.0, 0.0) + np.random.default_rng(1).normal(
        0, 0.01, 600
    )
    lines: list[str] = []
    result = train(
        write_csv(frame, tmp_path / "c.csv"),
        "csv",
        quick(target="churned"),
        tmp_path / "art",
        progress=lambda _, line: lines.append(line),
    )
    assert result.report is not None
    assert len(result.report.warnings) == 1
    assert "'cancel_code' alone predicts the target" in result.report.warnings[0]
    assert any("warning: possible leakage: 'cancel_code'" in line for line in lines)


def test_free_text_column_is_dropped(tmp_path: Path) -> None:
    frame = churn_frame(400, seed=12)
    words = np.array(["slow", "great", "support", "price", "app", "crash", "love", "bill"])
    rng = np.random.default_rng(3)
    frame["feedback"] = [" ".join(rng.choice(words, 3)) for _ in range(400)]
    result = train(
        write_csv(frame, tmp_path / "c.csv"), "csv", quick(target="churned"), tmp_path / "a"
    )
    assert "too many to use as a category" in result.dropped_columns["feedback"]


# --------------------------------------------------------------- honest results


def _train(tmp_path: Path, frame: pd.DataFrame, spec: TrainingSpec) -> tuple[TrainingResult, str]:
    """Train on `frame`; the result and the build-log text."""
    lines: list[str] = []
    result = train(
        write_csv(frame, tmp_path / "d.csv"),
        "csv",
        spec,
        tmp_path / "art",
        progress=lambda _, line: lines.append(line),
    )
    return result, "\n".join(lines)


def test_a_good_model_is_compared_with_its_baseline_and_not_warned(churn_run: ChurnRun) -> None:
    _, _, result, lines = churn_run
    assert result.report is not None
    baseline = result.report.baseline
    assert baseline is not None
    assert baseline.strategy.startswith("always the majority class 'false'")
    assert baseline.metric == "roc_auc" == result.metric_name
    # A constant probability ranks nothing: AUC 0.5, and the model's own test score.
    assert baseline.value == pytest.approx(0.5)
    assert baseline.model_value == result.metric_value
    assert baseline.skill == pytest.approx((result.metric_value - 0.5) / 0.5, abs=1e-6)
    assert baseline.clearly_better and baseline.chance_not_better == 0.0
    # Always "false" is right for the share of test rows that did not churn.
    test = result.report.test
    majority = test.confusion_matrix[0]
    assert baseline.metrics["accuracy"] == pytest.approx(sum(majority) / test.rows)
    assert baseline.metrics["recall"] == 0.0
    text = "\n".join(line for _, line in lines)
    assert "baseline (always the majority class 'false'" in text
    assert "test roc_auc 0.500 against the model's" in text
    assert "trivial baseline" not in text and result.report.warnings == []


def test_a_model_of_noise_is_warned_about(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"a": rng.normal(size=600), "b": rng.integers(0, 5, 600), "y": rng.integers(0, 2, 600)}
    )
    result, text = _train(tmp_path, frame, quick(target="y"))
    assert result.report is not None and result.report.baseline is not None
    assert not result.report.baseline.clearly_better
    (warning,) = result.report.warnings
    assert "better than a trivial baseline" in warning
    assert "always the majority class" in warning
    assert f"warning: {warning}" in text


def test_integer_codes_trained_as_a_regression_are_warned_about(tmp_path: Path) -> None:
    # The fault probe's case: 2,000 integer classes become a regression that learns nothing.
    rng = np.random.default_rng(4)
    n = 4000
    frame = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.integers(0, 50, n), "y": rng.integers(0, 2000, n)}
    )
    result, text = _train(tmp_path, frame, quick(target="y"))
    assert result.task == "regression" and result.metric_name == "rmse"
    assert abs(result.metrics["r2"]) < 0.05
    report = result.report
    assert report is not None and report.baseline is not None
    baseline = report.baseline
    assert baseline.strategy.startswith("always the training rows' mean")
    assert baseline.skill is not None and baseline.skill < 0.05
    assert baseline.metrics["rmse"] == baseline.value
    (warning,) = report.warnings
    assert warning.startswith("the model is not clearly better than a trivial baseline")
    assert "'y' holds whole numbers" in warning and "set `task` to multiclass" in warning
    assert f"warning: {warning}" in text


def test_one_row_of_a_class_fails_the_build(tmp_path: Path) -> None:
    # The fault probe's case: 299 rows of one class and 1 of the other.
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.normal(size=300), "y": [1] + [0] * 299})
    failure = _failure(tmp_path, frame, quick(target="y"))
    assert failure.code == "target_class_too_rare"
    assert "'y' has 299 rows of '0' and 1 row of '1'" in failure.message
    assert "at least 10 rows of each class" in failure.message
    assert "Upload more rows of '1'" in failure.message


@pytest.mark.parametrize(("rare", "fails"), [(9, True), (10, False)])
def test_the_rarer_of_two_classes_needs_ten_rows(tmp_path: Path, rare: int, fails: bool) -> None:
    frame = churn_frame(300, seed=6)
    frame["churned"] = np.arange(300) < rare
    spec = quick(target="churned")
    if fails:
        assert _failure(tmp_path, frame, spec).code == "target_class_too_rare"
    else:
        assert train(write_csv(frame, tmp_path / "d.csv"), "csv", spec, tmp_path / "a").task == (
            "binary"
        )


def test_a_rare_class_of_many_is_a_warning(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=600)
    labels = np.where(x < -0.5, "low", np.where(x > 0.5, "high", "mid"))
    labels[:7] = "odd"
    frame = pd.DataFrame({"x": x, "y": labels})
    result, text = _train(tmp_path, frame, quick(target="y"))
    assert result.task == "multiclass"
    assert result.report is not None
    (warning,) = result.report.warnings  # the model itself is clearly better than "mid"
    assert warning.startswith("classes of 'y' with fewer than 10 rows: 'odd' (7 rows)")
    assert f"warning: {warning}" in text


def _binary(y: npt.NDArray[np.float64]) -> Target:
    return Target("binary", y, ["no", "yes"], "yes", "string")


def test_a_baseline_perfect_on_the_test_rows_proves_nothing() -> None:
    y_train = np.array([0.0] * 90 + [1.0] * 10)
    y_test = np.zeros(20)  # one class only: always "no" is right every time
    target = _binary(y_train)
    baseline = compare_with_baseline(target, "accuracy", y_train, y_test, np.full(20, 0.2), 1)
    assert (baseline.value, baseline.model_value, baseline.skill) == (1.0, 1.0, None)
    assert not baseline.clearly_better
    warning = baseline_warning(baseline, target, "churned", 20)
    assert warning is not None and "cannot be shown better than a trivial baseline" in warning
    assert "already a perfect score on the 20 test rows" in warning


def test_skill_and_chance_decide_what_is_clearly_better() -> None:
    rng = np.random.default_rng(8)
    y = (rng.random(400) < 0.5).astype(np.float64)
    target = _binary(y)
    perfect = compare_with_baseline(target, "log_loss", y, y, np.where(y == 1, 0.95, 0.05), 1)
    assert perfect.clearly_better and perfect.chance_not_better == 0.0
    assert perfect.skill is not None and perfect.skill > 0.9
    assert baseline_warning(perfect, target, "y", 400) is None
    # The baseline's own probabilities again: no skill at all.
    same = compare_with_baseline(target, "log_loss", y, y, np.full(400, y.mean()), 1)
    assert same.skill == pytest.approx(0.0, abs=1e-6) and not same.clearly_better
    assert same.chance_not_better == 1.0  # a tie is not better
    warning = baseline_warning(same, target, "y", 400)
    assert warning is not None and "it does no better than the baseline" in warning
    # Right on one more of 12 test rows than always "yes": skill, but maybe luck.
    y_train = np.array([1.0] * 60 + [0.0] * 40)
    few = np.array([1.0] * 8 + [0.0] * 4)
    one_more = np.array([0.9] * 8 + [0.1] + [0.6] * 3)
    lucky = compare_with_baseline(target, "accuracy", y_train, few, one_more, 1)
    assert (lucky.value, lucky.model_value) == (pytest.approx(8 / 12), pytest.approx(9 / 12))
    assert lucky.skill == pytest.approx(0.25)
    # Every resample without that row is a tie: about (11/12)**12 = 35 % of them.
    assert 0.2 < lucky.chance_not_better < 0.5 and not lucky.clearly_better
    warning = baseline_warning(lucky, target, "y", 12)
    assert warning is not None and "so the gain may be chance" in warning


def test_a_small_gain_is_not_clearly_better_however_sure() -> None:
    y_train = np.array([1.0] * 60 + [0.0] * 40)  # the baseline always says "yes"
    y_test = np.array([1.0] * 500 + [0.0] * 500)
    # Right on every "yes" and on 20 of the 500 "no": accuracy 0.52 against 0.50.
    model = np.array([0.9] * 500 + [0.1] * 20 + [0.6] * 480)
    target = _binary(y_train)
    small = compare_with_baseline(target, "accuracy", y_train, y_test, model, 1)
    assert small.skill == pytest.approx(0.04)
    assert small.chance_not_better == 0.0 and not small.clearly_better
    warning = baseline_warning(small, target, "y", 1000)
    assert warning is not None
    assert "it closes only 4.0% of the gap to a perfect score" in warning
    assert "(a clearly better model closes at least 5%)" in warning


def _artifact_bytes(artifact: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(artifact.iterdir())}


def test_the_same_seed_gives_the_same_artifact_bytes(tmp_path: Path) -> None:
    """`TrainingOptions.seed` makes a build reproducible: same data and seed, same bytes."""
    data = write_csv(churn_frame(400, seed=13), tmp_path / "c.csv")
    first = train(data, "csv", quick(target="churned", seed=12345), tmp_path / "a")
    second = train(data, "csv", quick(target="churned", seed=12345), tmp_path / "b")
    assert _artifact_bytes(tmp_path / "a") == _artifact_bytes(tmp_path / "b")
    assert set(_artifact_bytes(tmp_path / "a")) == {"model.txt", "meta.json"}
    assert first.report is not None and second.report is not None
    assert first.report.options == TrainingOptions(max_iterations=2, seed=12345)
    # another seed is another split and search (its bytes may differ); it is recorded
    other = train(data, "csv", quick(target="churned", seed=1), tmp_path / "c")
    assert other.report is not None and other.report.options == TrainingOptions(
        max_iterations=2, seed=1
    )
    assert "[seed: 1]\n" in (tmp_path / "c" / "model.txt").read_text()  # LightGBM's own


def test_the_stages_run_by_hand_build_what_train_builds(tmp_path: Path) -> None:
    """prepare → select → fit_and_score → package is `train`: the same artifact bytes."""
    data = write_csv(churn_frame(300, seed=14), tmp_path / "c.csv")
    spec = quick(target="churned", intent="Predict churn")
    lines: list[str] = []

    def report(_: int, line: str) -> None:
        lines.append(line)

    prepared = prepare(data, "csv", spec, report)
    assert prepared.summary.rows_used == 300 == len(prepared.rest) + len(prepared.test)
    assert not set(prepared.rest.tolist()) & set(prepared.test.tolist())
    assert prepared.summary.test_rows == len(prepared.test) == 60
    assert prepared.matrix.shape[0] == 300 and prepared.target.task == "binary"
    selected = select(prepared, spec.options, report)
    assert len(selected.outcome.summary.candidates) == 2
    fitted = fit_and_score(prepared, selected, spec, report)
    assert fitted.test.rows == 60 and fitted.metric_name == "roc_auc"
    by_hand = package(prepared, selected, fitted, spec, tmp_path / "a", report, started=0.0)
    whole = train(data, "csv", spec, tmp_path / "b")
    assert _artifact_bytes(tmp_path / "a") == _artifact_bytes(tmp_path / "b")
    # the same result, but for the seconds things took
    assert by_hand.report is not None and whole.report is not None
    untimed = {"training_seconds": 0.0, "report": None}
    assert msgspec.structs.replace(by_hand, **untimed) == msgspec.structs.replace(whole, **untimed)
    assert msgspec.structs.replace(by_hand.report, search=whole.report.search) == whole.report
    assert [c.params for c in by_hand.report.search.candidates] == [
        c.params for c in whole.report.search.candidates
    ]
    assert lines[-1].startswith("saved model:")


def _sorted_by_price_with_row_numbers(name: str, seed: int = 5) -> pd.DataFrame:
    """A diamonds-like table sorted by its target, with the row numbers of a subset of
    the rows kept (gaps), as R's write.csv and pandas' to_csv leave them."""
    rng = np.random.default_rng(seed)
    n = 1200
    carat = rng.uniform(0.2, 3.0, n)
    cut = rng.choice(["Fair", "Good", "Ideal"], n)
    price = 3000 * carat + np.where(cut == "Ideal", 800.0, 0.0) + rng.normal(0, 900, n)
    frame = pd.DataFrame({"carat": carat, "cut": cut, "price": price})
    frame = frame.sort_values("price", ignore_index=True)
    kept = np.sort(rng.choice(n, 800, replace=False))  # a subset: the numbers have gaps
    frame = frame.iloc[kept].reset_index(drop=True)
    frame.insert(0, name, kept + 1)
    return frame


@pytest.mark.parametrize("name", ["rownames", "sample"])
def test_a_row_number_of_a_table_sorted_by_its_target_is_dropped(tmp_path: Path, name: str) -> None:
    data = write_csv(_sorted_by_price_with_row_numbers(name), tmp_path / "d.csv")
    result = train(data, "csv", quick(target="price"), tmp_path / "art")
    assert sorted(result.features) == ["carat", "cut"]  # the real inputs only
    why = result.dropped_columns[name]
    assert "row index" in why and "rising with the row order" in why
    assert ("named as one" in why) == (name == "rownames")
    assert result.report is not None
    assert result.report.data.dropped_columns[name] == why  # what describe shows


def test_a_leaky_identifier_is_dropped_not_only_reported(tmp_path: Path) -> None:
    frame = _sorted_by_price_with_row_numbers("rownames")
    # Shuffled: no longer rising, but the number still says where the price ranked.
    frame = frame.sample(frac=1.0, random_state=3, ignore_index=True)
    data = write_csv(frame, tmp_path / "d.csv")
    lines: list[str] = []
    result = train(
        data,
        "csv",
        quick(target="price"),
        tmp_path / "art",
        progress=lambda _, line: lines.append(line),
    )
    assert sorted(result.features) == ["carat", "cut"]
    why = result.dropped_columns["rownames"]
    assert why.startswith("identifier-like and leaks the target: 'rownames' alone predicts")
    assert any(line.startswith("dropped column 'rownames': identifier-like") for line in lines)
    assert result.report is not None
    assert not any("possible leakage" in w for w in result.report.warnings)
