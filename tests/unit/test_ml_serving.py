"""The serving path: loading an artifact, validating requests, predicting, schemas."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest

from intentml.domain.schemas import simple_schema
from intentml.ml.serving import (
    InputError,
    InvalidInput,
    LoadedModel,
    date_features,
    datetime_features,
    served_outputs,
)
from intentml.ml.train import TrainingSpec, train

POSITIVE = {"usage_minutes": 12.5, "plan": "basic", "signup_date": "2023-02-01", "tickets": 4}
NEGATIVE = {"usage_minutes": 280.0, "plan": "pro", "signup_date": "2022-06-01", "tickets": 0}


def churn_frame(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Churn when usage is below 100 minutes (5 % noise), plus an id and a constant."""
    rng = np.random.default_rng(seed)
    usage = rng.uniform(0, 300, n).round(1)
    days = rng.integers(0, 700, n).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "usage_minutes": usage,
            "plan": rng.choice(["basic", "pro", "enterprise"], n),
            "signup_date": (np.datetime64("2022-01-01") + days).astype(str),
            "region": "EU",
            "tickets": rng.integers(0, 6, n),
            "churned": (usage < 100) ^ (rng.random(n) < 0.05),
        }
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    root = tmp_path_factory.mktemp("serving")
    churn_frame().to_csv(root / "churn.csv", index=False)
    train(root / "churn.csv", "csv", TrainingSpec(target="churned"), root / "artifact")
    return LoadedModel.load(root / "artifact")


def _with_outputs(model: LoadedModel, fields: list[str]) -> LoadedModel:
    return LoadedModel(msgspec.structs.replace(model.meta, output_fields=fields), model.booster)


# ---------------------------------------------------------------------- predicting


def test_predict_one(model: LoadedModel) -> None:
    high = model.predict_one(POSITIVE)
    low = model.predict_one(NEGATIVE)
    assert set(high) == {"churned_probability", "churned"}
    assert high["churned_probability"] > low["churned_probability"] + 0.3
    assert high["churned_probability"] > 0.5 > low["churned_probability"]
    assert high["churned"] is True and low["churned"] is False


def test_missing_and_unseen_values_still_predict(model: LoadedModel) -> None:
    out = model.predict_one({"usage_minutes": 5.0, "plan": "platinum", "signup_date": None})
    assert 0.0 <= out["churned_probability"] <= 1.0


def test_predict_rows_equals_predict_one(model: LoadedModel) -> None:
    frame = churn_frame(1000, seed=9).drop(columns="churned")
    rows: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in frame.to_dict("records")
    ]
    rows[3]["plan"] = None
    rows[4]["signup_date"] = None
    rows[5]["plan"] = "unseen"
    batch = model.predict_rows(rows)
    assert len(batch) == 1000
    assert batch == [model.predict_one(r) for r in rows]
    assert model.predict_rows([]) == []


def test_invalid_value_raises_with_the_field(model: LoadedModel) -> None:
    with pytest.raises(InvalidInput) as info:
        model.predict_rows([POSITIVE, {**POSITIVE, "usage_minutes": "abc"}])
    assert info.value.errors[0].field == "[1].usage_minutes"
    with pytest.raises(InvalidInput, match="signup_date"):
        model.predict_one({**POSITIVE, "signup_date": "01/02/2023"})


def test_predict_one_is_fast(model: LoadedModel) -> None:
    matrix = model.matrix([POSITIVE])

    def best_of(fn: Any, repeat: int = 300) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    overhead = best_of(lambda: model.predict_one(POSITIVE)) - best_of(
        lambda: model.booster.predict(matrix)
    )
    assert overhead < 100e-6


# ---------------------------------------------------------------------- validation


def test_valid_row(model: LoadedModel) -> None:
    assert model.validate(POSITIVE) == ([], [])
    # integers are numbers; null means "unknown" and is allowed for any field
    assert model.validate({**POSITIVE, "usage_minutes": 12, "plan": None}) == ([], [])


def test_missing_field(model: LoadedModel) -> None:
    row = {k: v for k, v in POSITIVE.items() if k != "usage_minutes"}
    errors, _ = model.validate(row)
    assert errors == [InputError("usage_minutes", "missing required field", "number")]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("usage_minutes", "abc", "number"),
        ("usage_minutes", "12.5", "number"),  # numbers as strings are not numbers
        ("usage_minutes", True, "number"),  # nor are booleans
        ("tickets", 2.5, "integer"),
        ("plan", 3, "string"),
        ("signup_date", "01/02/2023", "date (YYYY-MM-DD)"),
        ("signup_date", 20230201, "date (YYYY-MM-DD)"),
    ],
)
def test_wrong_type(model: LoadedModel, field: str, value: Any, expected: str) -> None:
    errors, _ = model.validate({**POSITIVE, field: value})
    assert len(errors) == 1
    assert errors[0].field == field
    assert errors[0].expected == expected
    assert errors[0].message.startswith("expected")


def test_unknown_field_is_an_error(model: LoadedModel) -> None:
    errors, _ = model.validate({**POSITIVE, "usage_minute": 3})
    assert [e.field for e in errors] == ["usage_minute"]
    assert "did you mean 'usage_minutes'" in errors[0].message


def test_ignored_columns_and_target_are_warnings(model: LoadedModel) -> None:
    errors, warnings = model.validate({**POSITIVE, "customer_id": "C1", "churned": True})
    assert errors == []
    assert warnings == [
        "field 'customer_id' is not used by the model and was ignored",
        "field 'churned' is what the model predicts; the given value was ignored",
    ]


def test_unseen_category_is_a_warning(model: LoadedModel) -> None:
    errors, warnings = model.validate({**POSITIVE, "plan": "platinum"})
    assert errors == []
    assert len(warnings) == 1
    assert "'platinum'" in warnings[0] and "not seen in training" in warnings[0]


def test_unseen_category_is_an_error_when_strict(model: LoadedModel) -> None:
    errors, warnings = model.validate({**POSITIVE, "plan": "platinum"}, strict=True)
    assert warnings == []
    assert len(errors) == 1
    error = errors[0]
    assert error.field == "plan"
    assert "'platinum'" in error.message and "not seen in training" in error.message
    known = model.meta.inputs[1].categories
    assert sorted(known) == ["basic", "enterprise", "pro"]
    assert error.expected == "one of: " + ", ".join(known)
    assert all(value in error.message for value in known)
    # with a prefix, and seen values, nulls and other problems are as without strict
    errors, _ = model.validate({**POSITIVE, "plan": "gold"}, "[2]", strict=True)
    assert [e.field for e in errors] == ["[2].plan"]
    assert model.validate({**POSITIVE, "plan": None}, strict=True) == ([], [])
    assert model.validate(POSITIVE, strict=True) == ([], [])
    row = {**POSITIVE, "plan": 3, "customer_id": "C1"}
    assert model.validate(row, strict=True) == model.validate(row)


def test_strict_error_lists_at_most_ten_known_values(model: LoadedModel) -> None:
    many = [f"plan{i:02d}" for i in range(25)]
    inputs = [
        msgspec.structs.replace(s, categories=many) if s.name == "plan" else s
        for s in model.meta.inputs
    ]
    wide = LoadedModel(msgspec.structs.replace(model.meta, inputs=inputs), model.booster)
    errors, _ = wide.validate({**POSITIVE, "plan": "platinum"}, strict=True)
    assert errors[0].expected.startswith("one of: plan00, plan01,")
    assert "plan09" in errors[0].expected and "plan10" not in errors[0].expected
    assert "25 in all" in errors[0].message


def test_path_prefix(model: LoadedModel) -> None:
    errors, warnings = model.validate({**POSITIVE, "usage_minutes": "x", "customer_id": 1}, "[3]")
    assert errors[0].field == "[3].usage_minutes"
    assert warnings == ["field '[3].customer_id' is not used by the model and was ignored"]
    errors, _ = model.validate({**POSITIVE, "usage_minutes": "x"}, "rows[0].")
    assert errors[0].field == "rows[0].usage_minutes"


def test_numbers_too_large_for_a_float(model: LoadedModel) -> None:
    huge = 10**400  # JSON decoders give Python ints of any size
    errors, _ = model.validate({**POSITIVE, "usage_minutes": huge, "tickets": -huge})
    assert [e.field for e in errors] == ["usage_minutes", "tickets"]
    assert all("too large" in e.message for e in errors)
    with pytest.raises(InvalidInput, match="usage_minutes"):
        model.predict_one({**POSITIVE, "usage_minutes": huge})
    errors, _ = model.validate({**POSITIVE, "signup_date": "0001-01-01T00:00:00+01:00"})
    assert [e.field for e in errors] == ["signup_date"]


def test_row_that_is_not_an_object(model: LoadedModel) -> None:
    errors, _ = model.validate([1, 2], "[0]")  # type: ignore[arg-type]
    assert errors == [InputError("[0]", "expected a JSON object of input fields", "object")]


def test_sample_input_is_valid(model: LoadedModel) -> None:
    sample = model.sample_input()
    assert set(sample) == {"usage_minutes", "plan", "signup_date", "tickets"}
    assert model.validate(sample) == ([], [])
    assert 0 <= model.predict_one(sample)["churned_probability"] <= 1


# ------------------------------------------------------------------------- schemas


def test_input_schema(model: LoadedModel) -> None:
    schema = model.input_schema()
    assert schema["type"] == "object"
    assert schema["required"] == ["usage_minutes", "plan", "signup_date", "tickets"]
    props = schema["properties"]
    assert props["usage_minutes"]["type"] == ["number", "null"]
    assert props["tickets"]["type"] == ["integer", "null"]
    assert props["signup_date"]["format"] == "date"
    assert "enum" not in props["plan"]
    assert sorted(props["plan"]["examples"]) == ["basic", "enterprise", "pro"]
    assert "customer_id" in props  # accepted, ignored


def test_output_schema(model: LoadedModel) -> None:
    schema = model.output_schema()
    assert schema["required"] == ["churned_probability", "churned"]
    assert schema["properties"]["churned_probability"]["maximum"] == 1
    assert schema["properties"]["churned"] == {"type": "boolean", "enum": [False, True]}


def test_flat_schemas(model: LoadedModel) -> None:
    flat = simple_schema(model.input_schema())
    assert flat == {
        "usage_minutes": "float",
        "plan": "string",
        "signup_date": "date",
        "tickets": "integer",
    }
    assert list(flat) == [s.name for s in model.meta.inputs]  # no ignored columns
    assert simple_schema(model.output_schema()) == {
        "churned_probability": "float",
        "churned": "boolean",
    }
    custom = _with_outputs(
        model, ["churned", "confidence", "risk_level", "probabilities", "churn_score"]
    )
    assert simple_schema(custom.output_schema()) == {
        "churned": "boolean",
        "confidence": "float",
        "risk_level": "string",
        "probabilities": "object",
        "churn_score": "float",
    }
    # the label takes the target's type
    for target_type, flat_type in [
        ("integer", "integer"),
        ("number", "float"),
        ("string", "string"),
    ]:
        typed = LoadedModel(
            msgspec.structs.replace(model.meta, target_type=target_type), model.booster
        )
        assert simple_schema(typed.output_schema())["churned"] == flat_type


def test_requested_output_fields(model: LoadedModel) -> None:
    custom = _with_outputs(model, ["churn_probability", "risk_level", "churned", "confidence"])
    out = custom.predict_one(POSITIVE)
    assert list(out) == ["churn_probability", "risk_level", "churned", "confidence"]
    assert out["risk_level"] == "high"
    assert out["churned"] is True
    assert out["confidence"] == out["churn_probability"]
    assert custom.predict_one(NEGATIVE)["risk_level"] == "low"
    assert list(custom.output_schema()["properties"]) == list(out)


@pytest.mark.parametrize(
    ("fields", "kinds"),
    [
        (["churn_score"], ["probability"]),
        (["will_leave"], ["label"]),
        (["is_churn"], ["label"]),
        (["churn_label", "probabilities"], ["label", "probabilities"]),
        (["customer_risk_level", "churn_likelihood"], ["risk_level", "probability"]),
    ],
)
def test_output_field_mapping(model: LoadedModel, fields: list[str], kinds: list[str]) -> None:
    meta = msgspec.structs.replace(model.meta, output_fields=fields)
    assert [kind for _, kind in served_outputs(meta)] == kinds


# -------------------------------------------------------------------------- errors


def test_load_missing_artifact(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no model artifact"):
        LoadedModel.load(tmp_path / "nothing")


def test_load_mismatched_artifact(model: LoadedModel, tmp_path: Path) -> None:
    meta = msgspec.structs.replace(model.meta, inputs=model.meta.inputs[:1])
    (tmp_path / "meta.json").write_bytes(msgspec.json.encode(meta))
    model.booster.save_model(str(tmp_path / "model.txt"))
    with pytest.raises(ValueError, match="features"):
        LoadedModel.load(tmp_path)


# --------------------------------------------------------------------------- dates


def test_date_features() -> None:
    # 2024-01-01 was a Monday, 19723 days after 1970-01-01
    assert date_features("2024-01-01") == [2024.0, 1.0, 1.0, 0.0, 19723.0]
    # a date-time's date is taken in UTC
    assert date_features("2024-01-01T01:00:00+02:00") == [2023.0, 12.0, 31.0, 6.0, 19722.0]
    assert datetime_features("2024-01-01T18:00:00Z") == [2024.0, 1.0, 1.0, 0.0, 19723.75, 18.0]
