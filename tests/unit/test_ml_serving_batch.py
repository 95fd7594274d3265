"""Batch serving: `validate_rows`, `predict_rows` and `validate_and_predict_rows`.

The batch paths work column by column for speed; these tests hold them to the
row-by-row answers of `validate` and `predict_one`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest

from intentml.domain.schemas import simple_schema
from intentml.domain.training_options import TrainingOptions
from intentml.ml.serving import (
    MAX_BATCH_ERRORS,
    InputError,
    InvalidInput,
    LoadedModel,
    SingleRowPredictor,
)
from intentml.ml.train import TrainingSpec, train
from tests.unit.test_ml_serving import POSITIVE, churn_frame

Row = dict[str, Any]

#: These tests are about serving: a short search is enough to get a model.
FEW = TrainingOptions(max_iterations=2)


def segment_frame(n: int = 800, seed: int = 1) -> pd.DataFrame:
    """Customer segments (3 classes) from spend and premium; every input kind but dates."""
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2.0, 50.0, n).round(2)
    seconds = rng.integers(0, 400 * 86400, n).astype("timedelta64[s]")
    visits = rng.integers(0, 30, n).astype(float)
    visits[rng.random(n) < 0.1] = np.nan  # optional: absent means unknown
    premium = rng.random(n) < 0.4
    return pd.DataFrame(
        {
            "spend": spend,
            "visits": visits,
            "premium": premium,
            "channel": rng.choice(["web", "app", "store", None], n),
            "last_seen": [f"{t}Z" for t in np.datetime64("2023-01-01T00:00:00") + seconds],
            "segment": np.where(spend > 120, "vip", np.where(premium, "regular", "casual")),
        }
    )


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    churn_frame().to_csv(root / "churn.csv", index=False)
    train(root / "churn.csv", "csv", TrainingSpec(target="churned", options=FEW), root / "binary")
    segment_frame().to_csv(root / "segments.csv", index=False)
    train(
        root / "segments.csv",
        "csv",
        TrainingSpec(target="segment", options=FEW),
        root / "multiclass",
    )
    train(
        root / "segments.csv", "csv", TrainingSpec(target="spend", options=FEW), root / "regression"
    )
    return root


@pytest.fixture(scope="module")
def binary(artifacts: Path) -> LoadedModel:
    return LoadedModel.load(artifacts / "binary")


@pytest.fixture(scope="module")
def multiclass(artifacts: Path) -> LoadedModel:
    model = LoadedModel.load(artifacts / "multiclass")
    assert model.meta.task == "multiclass" and len(model.meta.classes) == 3
    return model


@pytest.fixture(scope="module")
def regression(artifacts: Path) -> LoadedModel:
    model = LoadedModel.load(artifacts / "regression")
    assert model.meta.task == "regression"
    return model


def _with_outputs(model: LoadedModel, fields: list[str]) -> LoadedModel:
    return LoadedModel(msgspec.structs.replace(model.meta, output_fields=fields), model.booster)


def _per_row(model: LoadedModel, rows: list[Any], strict: bool = False) -> list[InputError]:
    """The errors `validate` gives row by row, with `[i]` paths."""
    return [e for i, row in enumerate(rows) for e in model.validate(row, f"[{i}]", strict)[0]]


def _via_json(rows: list[Row]) -> list[Row]:
    """Rows as a JSON API receives them (msgspec-decoded)."""
    decoded: list[Row] = msgspec.json.decode(msgspec.json.encode(rows))
    return decoded


# ------------------------------------------------------------------ random rows


def _churn_row(rng: random.Random, model: LoadedModel) -> Row:
    """A valid churn request: nulls, ints for numbers, unseen plans, ISO dates."""
    plans = model.meta.inputs[1].categories
    row: Row = {
        "usage_minutes": rng.choice(
            [round(rng.uniform(0, 300), 1), rng.randint(0, 300), None, 0.0, -5.5]
        ),
        "plan": rng.choice([*plans, "platinum", None]),
        "signup_date": rng.choice(
            [
                f"{rng.randint(2020, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "2023-03-04T23:30:00-02:00",  # a date-time: its UTC date counts
                "20230201",
                None,
            ]
        ),
        "tickets": rng.choice([rng.randint(0, 6), float(rng.randint(0, 6)), None]),
    }
    if rng.random() < 0.1:
        del row["tickets"]  # absent: missing to predict_*, an error to validate
    return row


def _segment_row(rng: random.Random, model: LoadedModel) -> Row:
    """A valid request for the segment and spend models (every kind but dates)."""
    second = rng.randint(0, 59)
    row: Row = {
        "spend": rng.choice([round(rng.gammavariate(2.0, 50.0), 2), rng.randint(0, 400), None]),
        "visits": rng.choice([rng.randint(0, 30), float(rng.randint(0, 30)), None]),
        "premium": rng.choice([True, False, None]),
        "channel": rng.choice(["web", "app", "store", "fax", None]),
        "last_seen": rng.choice(
            [
                f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{second:02d}Z",
                f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "2023-06-01T10:00:00+05:30",
                None,
            ]
        ),
        "segment": rng.choice(["vip", "casual"]),
    }
    for name in ("visits", "channel"):
        if rng.random() < 0.1:
            del row[name]
    return row


def _rows(
    make: Callable[[random.Random, LoadedModel], Row], model: LoadedModel, n: int, seed: int
) -> list[Row]:
    rng = random.Random(seed)
    names = {s.name for s in model.meta.inputs}
    rows = []
    for _ in range(n):
        row = make(rng, model)
        rows.append({k: v for k, v in row.items() if k in names})
    return _via_json(rows)


# ---------------------------------------------------------- predictions agree


@pytest.mark.parametrize(
    "fields",
    [
        [],  # the default outputs
        ["churn_probability", "risk_level", "churned", "confidence", "probabilities"],
        ["churn_probability", "risk_level", "churned", "confidence"],
        ["churned", "risk_level"],
        ["probabilities", "churned", "churn_score"],
    ],
)
def test_binary_batch_equals_predict_one(binary: LoadedModel, fields: list[str]) -> None:
    model = _with_outputs(binary, fields)
    rows = _rows(_churn_row, model, 400, seed=len(fields))
    batch = model.predict_rows(rows)
    assert len(batch) == len(rows)
    assert batch == [model.predict_one(r) for r in rows]
    assert {out["churned"] for out in batch} == {True, False}  # the rows are not all alike
    if "risk_level" in fields:
        assert {out["risk_level"] for out in batch} == {"low", "medium", "high"}


@pytest.mark.parametrize(
    "fields",
    [
        [],
        ["segment", "confidence", "probabilities", "risk_level", "segment_probability"],
        ["probabilities", "segment", "confidence"],
    ],
)
def test_multiclass_batch_equals_predict_one(multiclass: LoadedModel, fields: list[str]) -> None:
    model = _with_outputs(multiclass, fields)
    rows = _rows(_segment_row, model, 300, seed=3)
    batch = model.predict_rows(rows)
    assert batch == [model.predict_one(r) for r in rows]
    assert {out["segment"] for out in batch} == {"casual", "regular", "vip"}
    assert all(set(out["probabilities"]) == {"casual", "regular", "vip"} for out in batch)


@pytest.mark.parametrize("fields", [[], ["spend", "risk_level", "confidence"]])
def test_regression_batch_equals_predict_one(regression: LoadedModel, fields: list[str]) -> None:
    model = _with_outputs(regression, fields)
    rows = _rows(_segment_row, model, 300, seed=4)
    batch = model.predict_rows(rows)
    assert batch == [model.predict_one(r) for r in rows]
    assert len({out["spend"] for out in batch}) > 10


def test_batch_matrix_equals_row_vectors(
    binary: LoadedModel, multiclass: LoadedModel, regression: LoadedModel
) -> None:
    for model, make in [
        (binary, _churn_row),
        (multiclass, _segment_row),
        (regression, _segment_row),
    ]:
        rows = _rows(make, model, 300, seed=5)
        expected = np.array([model.codec.vector(r) for r in rows], dtype=np.float64)
        np.testing.assert_array_equal(model.matrix(rows), expected)


def test_unusual_values_take_the_row_path(binary: LoadedModel) -> None:
    """Values a JSON decoder never gives still predict as `predict_one` does."""
    rows: list[Row] = [
        {**POSITIVE, "usage_minutes": np.float64(12.5)},
        {**POSITIVE, "signup_date": date(2023, 2, 1)},
        MappingProxyType({**POSITIVE, "tickets": 2}),  # type: ignore[list-item]
        {**POSITIVE, "tickets": np.int64(3)},
    ]
    assert binary.predict_rows(rows) == [binary.predict_one(r) for r in rows]
    assert binary.validate_rows(rows) == ([], [])
    errors, warnings, predictions = binary.validate_and_predict_rows(rows)
    assert (errors, warnings) == ([], [])
    assert predictions == binary.predict_rows(rows)


def test_predict_rows_reports_the_first_bad_row(binary: LoadedModel) -> None:
    rows = _via_json([POSITIVE, POSITIVE, {**POSITIVE, "signup_date": "soon"}, POSITIVE])
    with pytest.raises(InvalidInput) as info:
        binary.predict_rows(rows)
    assert [e.field for e in info.value.errors] == ["[2].signup_date"]
    with pytest.raises(InvalidInput) as info:
        binary.predict_rows([POSITIVE, {**POSITIVE, "plan": 7}])
    assert [e.field for e in info.value.errors] == ["[1].plan"]
    with pytest.raises(InvalidInput) as info:
        binary.predict_rows([POSITIVE, {**POSITIVE, "usage_minutes": 10**400}])
    assert [e.field for e in info.value.errors] == ["[1].usage_minutes"]


# ------------------------------------------------------------------- validation


def test_valid_batch(binary: LoadedModel) -> None:
    rows = _via_json([POSITIVE, {**POSITIVE, "usage_minutes": 3, "plan": None}])
    assert binary.validate_rows(rows) == ([], [])
    assert binary.validate_rows([]) == ([], [])
    assert binary.validate_and_predict_rows([]) == ([], [], [])


def test_batch_error_paths(binary: LoadedModel) -> None:
    no_usage = {k: v for k, v in POSITIVE.items() if k != "usage_minutes"}
    rows: list[Any] = [
        POSITIVE,
        {**POSITIVE, "usage_minutes": "12.5"},
        no_usage,
        {**POSITIVE, "tickets": 2.5, "plan": True},
        {**POSITIVE, "tickets": 1.5},
        {**POSITIVE, "tickets": 3.0, "usage_minutes": 7},
        {**POSITIVE, "tickets": float("inf")},
        {**POSITIVE, "usage_minute": 3},
        {**POSITIVE, "signup_date": "01/02/2023", "usage_minutes": True},
    ]
    errors, warnings = binary.validate_rows(rows)
    assert [e.field for e in errors] == [
        "[1].usage_minutes",
        "[2].usage_minutes",
        "[3].plan",
        "[3].tickets",
        "[4].tickets",
        "[6].tickets",
        "[7].usage_minute",
        "[8].usage_minutes",
        "[8].signup_date",
    ]
    assert errors == _per_row(binary, rows)
    assert errors[1].message == "missing required field"
    assert errors[4].message == "expected an integer, got 1.5"
    assert "did you mean 'usage_minutes'" in errors[6].message
    assert warnings == []
    _, _, predictions = binary.validate_and_predict_rows(rows)
    assert predictions is None


def test_batch_row_that_is_not_an_object(binary: LoadedModel) -> None:
    rows: list[Any] = [POSITIVE, [1, 2], {**POSITIVE, "tickets": 1.5, "customer_id": 1}, None]
    errors, warnings = binary.validate_rows(rows)
    assert errors == [
        InputError("[1]", "expected a JSON object of input fields", "object"),
        InputError("[2].tickets", "expected an integer, got 1.5", "integer"),
        InputError("[3]", "expected a JSON object of input fields", "object"),
    ]
    assert warnings == ["field '[2].customer_id' is not used by the model and was ignored"]


def test_batch_errors_are_capped(binary: LoadedModel) -> None:
    rows = _via_json([{**POSITIVE, "usage_minutes": "x", "tickets": "y"}] * 700)
    errors, _ = binary.validate_rows(rows)
    assert len(errors) == MAX_BATCH_ERRORS + 1
    assert errors[:MAX_BATCH_ERRORS] == _per_row(binary, rows)[:MAX_BATCH_ERRORS]
    assert errors[-2].field == "[499].tickets"
    assert errors[-1].field == "$"
    assert "400 more" in errors[-1].message and "1,400 in all" in errors[-1].message
    # exactly at the cap there is no note
    errors, _ = binary.validate_rows(rows[:500])
    assert len(errors) == MAX_BATCH_ERRORS and errors[-1].field == "[499].tickets"


def test_warnings_shared_by_rows_are_reported_once(binary: LoadedModel) -> None:
    rows = _via_json([{"customer_id": f"C{i}", **POSITIVE} for i in range(10_000)])
    rows[7]["churned"] = True
    errors, warnings = binary.validate_rows(rows)
    assert errors == []
    assert warnings == [
        "field 'customer_id' is not used by the model and was ignored "
        "(rows [0], [1], [2], … 10,000 rows)",
        "field '[7].churned' is what the model predicts; the given value was ignored",
    ]
    rows[9]["churned"] = False
    rows[5]["region"] = "EU"
    _, warnings = binary.validate_rows(rows)
    assert warnings[1:] == [
        "field '[5].region' is not used by the model and was ignored",
        "field 'churned' is what the model predicts; the given value was ignored (rows [7], [9])",
    ]
    # in the order of the rows they first appear in, as row by row
    rows[2]["plan"] = "gold"
    _, warnings = binary.validate_rows(rows)
    assert [w.split("'")[1] for w in warnings] == [
        "customer_id",
        "[2].plan",
        "[5].region",
        "churned",
    ]
    assert binary.validate_rows([MappingProxyType(r) for r in rows]) == ([], warnings)


def test_unseen_category_warnings(binary: LoadedModel) -> None:
    rows = _via_json([POSITIVE] * 20)
    rows[3] = {**POSITIVE, "plan": "gold"}
    assert binary.validate_rows(rows) == (
        [],
        [
            "field '[3].plan' has the value 'gold', which was not seen in training; "
            "it is treated as missing"
        ],
    )
    rows[4] = rows[11] = rows[15] = rows[3]
    _, warnings = binary.validate_rows(rows)
    assert warnings == [
        "field 'plan' has the value 'gold', which was not seen in training; it is treated "
        "as missing (rows [3], [4], [11], … 4 rows)"
    ]
    rows[12] = {**POSITIVE, "plan": "platinum"}
    _, warnings = binary.validate_rows(rows)
    assert warnings == [
        "field 'plan' has values not seen in training ('gold', 'platinum'); they are "
        "treated as missing (rows [3], [4], [11], … 5 rows)"
    ]
    errors, warnings = binary.validate_rows(rows, strict=True)
    assert warnings == []
    assert [e.field for e in errors] == [f"[{i}].plan" for i in (3, 4, 11, 12, 15)]
    assert errors == _per_row(binary, rows, strict=True)
    assert errors[3].expected.startswith("one of: ")


@pytest.mark.parametrize("strict", [False, True])
def test_batch_validation_equals_row_validation(binary: LoadedModel, strict: bool) -> None:
    """Random rows with every kind of problem: the column-wise path gives the errors
    `validate` gives row by row, and the same report as the row-by-row path."""
    rng = random.Random(11)
    corruptions: list[Callable[[Row], None]] = [
        lambda r: r.update(usage_minutes="12"),
        lambda r: r.update(usage_minutes=False),
        lambda r: r.update(tickets=1.5),
        lambda r: r.update(tickets=float("inf")),
        lambda r: r.update(usage_minutes=-(10**400)),
        lambda r: r.update(plan=4),
        lambda r: r.update(plan="diamond"),
        lambda r: r.update(plan=["basic"]),
        lambda r: r.update(signup_date="2023-13-01"),
        lambda r: r.update(signup_date=20230101),
        lambda r: r.pop("signup_date"),
        lambda r: r.update(usage_minutes=None, plan=None),
        lambda r: r.update(customer_id="C7"),
        lambda r: r.update(churned=True),
        lambda r: r.update(Plan="basic"),
    ]
    rows = _rows(_churn_row, binary, 400, seed=12)
    for row in rows:
        row.setdefault("tickets", 1)
        for corrupt in rng.sample(corruptions, rng.choice([0, 0, 0, 1, 2])):
            corrupt(row)
    errors, warnings = binary.validate_rows(rows, strict)
    assert len(errors) > 50
    assert errors == _per_row(binary, rows, strict)
    # Mappings that are not dicts take the row-by-row path: the same report.
    proxies = [MappingProxyType(r) for r in rows]
    assert binary.validate_rows(proxies, strict) == (errors, warnings)
    assert len(warnings) == (2 if strict else 3)
    # one warning per kind, counting the rows that have it
    for key, text in [("churned", "what the model predicts"), ("customer_id", "not used")]:
        having = [i for i, row in enumerate(rows) if key in row]
        assert len(having) > 3
        shown = ", ".join(f"[{i}]" for i in having[:3])
        assert any(
            w.startswith(f"field '{key}'")
            and text in w
            and f"(rows {shown}, … {len(having)} rows)" in w
            for w in warnings
        )


def test_validate_and_predict_rows(binary: LoadedModel, multiclass: LoadedModel) -> None:
    cases = [(binary, _churn_row, "customer_id"), (multiclass, _segment_row, "segment")]
    for model, make, ignored in cases:
        rows = _rows(make, model, 300, seed=21)
        for i, row in enumerate(rows):
            for spec in model.meta.inputs:  # required fields present: the batch is valid
                row.setdefault(spec.name, None)
            if i % 3:
                row[ignored] = "x"
        errors, warnings, predictions = model.validate_and_predict_rows(rows)
        assert (errors, warnings) == model.validate_rows(rows)
        assert errors == [] and len(warnings) == 2
        assert predictions == model.predict_rows(rows)
        strict_errors, _, strict_predictions = model.validate_and_predict_rows(rows, strict=True)
        assert strict_errors == model.validate_rows(rows, strict=True)[0] != []
        assert strict_predictions is None


def test_flat_schemas(multiclass: LoadedModel, regression: LoadedModel) -> None:
    assert simple_schema(multiclass.input_schema()) == {
        "spend": "float",
        "visits": "float",  # whole numbers with gaps are read as floats
        "premium": "boolean",
        "channel": "string",
        "last_seen": "datetime",
    }
    assert simple_schema(multiclass.output_schema()) == {
        "segment": "string",
        "probabilities": "object",
    }
    custom = _with_outputs(multiclass, ["segment", "confidence", "risk_level"])
    assert simple_schema(custom.output_schema()) == {
        "segment": "string",
        "confidence": "float",
        "risk_level": "null",  # risk levels exist for binary models only
    }
    assert "spend" not in simple_schema(regression.input_schema())
    assert simple_schema(regression.input_schema())["segment"] == "string"
    assert simple_schema(regression.output_schema()) == {"spend": "float"}


# ------------------------------------------------------ the fast single-row API


def test_single_row_api_gives_booster_predict_numbers(
    binary: LoadedModel, multiclass: LoadedModel, regression: LoadedModel
) -> None:
    for model in (binary, multiclass, regression):
        fast = SingleRowPredictor.create(model.booster, model.booster.num_feature())
        assert fast is not None
        rows = _rows(_churn_row if model is binary else _segment_row, model, 200, seed=5)
        matrix = model.matrix(rows)
        expected = np.asarray(model.booster.predict(matrix, num_threads=1))
        for i in range(len(rows)):
            got = fast.predict(list(matrix[i]))
            assert np.allclose(got, expected[i], rtol=0, atol=1e-12), (model.meta.task, i)
        with pytest.raises(ValueError, match="features"):
            fast.predict([0.0])
