"""Batches from raw JSON (`decode_batch`, `validate_and_predict_json`) and explanations.

A batch body decoded straight into the model's row Struct must give exactly what the
dict path gives (errors, warnings, predictions), and a body the decoder refuses must
fall back to the dict path. Explanations must add up to the model's raw score.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from intentml.api.errors import ApiError
from intentml.api.inference import answer_batch, predict_batch
from intentml.domain.training_options import TrainingOptions
from intentml.ml.serving import FeatureSpec, LoadedModel, RowBatch, matrix_layout
from intentml.ml.train import TrainingSpec, train
from tests.unit.test_ml_serving import NEGATIVE, POSITIVE, churn_frame
from tests.unit.test_ml_serving_batch import _churn_row, _rows, _segment_row, segment_frame

Row = dict[str, Any]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("json")
    churn_frame().to_csv(root / "churn.csv", index=False)
    segment_frame().to_csv(root / "segments.csv", index=False)
    for data, target, name in (
        ("churn.csv", "churned", "binary"),
        ("segments.csv", "segment", "multiclass"),
        ("segments.csv", "spend", "regression"),
    ):
        spec = TrainingSpec(target=target, options=TrainingOptions(max_iterations=2))
        train(root / data, "csv", spec, root / name)
    return root


@pytest.fixture(scope="module")
def binary(artifacts: Path) -> LoadedModel:
    model = LoadedModel.load(artifacts / "binary")
    # What the tests below rely on: a date input, two ignored columns besides the target.
    assert [s.kind for s in model.meta.inputs if s.name == "signup_date"] == ["date"]
    assert set(model.meta.ignored_columns) >= {"customer_id", "region"}
    return model


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


def body_of(rows: list[Any]) -> bytes:
    return msgspec.json.encode(rows)


def decoded(model: LoadedModel, rows: list[Any]) -> RowBatch:
    """`rows` through JSON into the model's row Struct (which must accept them)."""
    batch = model.decode_batch(body_of(rows))
    assert batch is not None
    assert len(batch) == len(rows)
    return batch


def as_json(rows: list[Any]) -> list[Any]:
    """`rows` as plain JSON decoding gives them (the dict path)."""
    plain: list[Any] = msgspec.json.decode(body_of(rows))
    return plain


def both_paths(model: LoadedModel, rows: list[Any], strict: bool = False) -> Any:
    """The answer of both paths, checked to be the same."""
    fast = model.validate_and_predict_rows(decoded(model, rows), strict)
    plain = model.validate_and_predict_rows(as_json(rows), strict)
    assert fast == plain
    fast_json = model.validate_and_predict_json(decoded(model, rows), strict)
    plain_json = model.validate_and_predict_json(as_json(rows), strict)
    assert fast_json == plain_json
    errors, warnings, predictions = plain
    assert fast_json[:2] == (errors, warnings)
    if predictions is None:
        assert fast_json[2] is None
    else:  # byte for byte what encoding the dicts gives
        assert fast_json[2] == msgspec.json.encode([{"prediction": p} for p in predictions])
    return plain


# --------------------------------------------------------------- the fast path agrees


@pytest.mark.parametrize("strict", [False, True])
def test_valid_batches_give_the_dict_answers(
    binary: LoadedModel, multiclass: LoadedModel, regression: LoadedModel, strict: bool
) -> None:
    for model, make in (
        (binary, _churn_row),
        (multiclass, _segment_row),
        (regression, _segment_row),
    ):
        rows = _rows(make, model, 400, seed=31)
        for row in rows:  # required fields present: only unseen categories can be wrong
            for spec in model.meta.inputs:
                row.setdefault(spec.name, None)
        errors, _, predictions = both_paths(model, rows, strict)
        if not strict:
            assert errors == [] and predictions is not None and len(predictions) == 400


def test_what_the_decoder_lets_through_gets_the_dict_errors(binary: LoadedModel) -> None:
    """Values of the right JSON type can still be wrong: the same errors and warnings."""
    no_usage = {k: v for k, v in POSITIVE.items() if k != "usage_minutes"}
    rows: list[Row] = [
        POSITIVE,
        no_usage,  # missing required field
        {**POSITIVE, "tickets": 1.5},  # an integer with a fraction
        {**POSITIVE, "tickets": 3.0},  # a whole float: fine
        {**POSITIVE, "plan": "platinum"},  # unseen: a warning, an error when strict
        {**POSITIVE, "signup_date": "2023-13-01"},  # not a date
        {**POSITIVE, "signup_date": "2023-03-04T23:30:00-02:00"},  # a date-time: fine
        {**POSITIVE, "usage_minutes": 10**400},  # too large for a float
        {**POSITIVE, "usage_minutes": 2**70},  # a big int that a float holds
        {**POSITIVE, "plan": None, "tickets": None},  # nulls: missing values
        {**POSITIVE, "customer_id": "C1", "churned": True},  # ignored, and the target
    ]
    for strict in (False, True):
        errors, warnings, predictions = both_paths(binary, rows, strict)
        assert predictions is None
        fields = [e.field for e in errors]
        expected = ["[1].usage_minutes", "[2].tickets", "[4].plan", "[5].signup_date"]
        expected += ["[7].usage_minutes"]
        assert fields == [f for f in expected if strict or f != "[4].plan"]
        assert len(warnings) == (2 if strict else 3)
    valid = [r for i, r in enumerate(rows) if i not in (1, 2, 5, 7)]
    errors, warnings, predictions = both_paths(binary, valid)
    assert errors == [] and predictions is not None and len(predictions) == len(valid)


def test_warnings_follow_the_key_order_of_the_row(binary: LoadedModel) -> None:
    """A Struct forgets the order of keys; warnings first seen in one row keep it."""
    for extra in (
        {"region": "EU", "customer_id": "C1", "churned": False},
        {"churned": False, "customer_id": "C1", "region": "EU"},
        {"customer_id": "C1"},
    ):
        rows = [POSITIVE, {**extra, **NEGATIVE}, {**NEGATIVE, **extra}, {**POSITIVE, **extra}]
        _, warnings, _ = both_paths(binary, rows)
        named = [w.split("'")[1] for w in warnings]
        assert named == list(extra), warnings
    # keys first seen in different rows: in row order
    rows = [POSITIVE, {**POSITIVE, "region": "EU"}, {**POSITIVE, "customer_id": "C1"}]
    _, warnings, _ = both_paths(binary, rows)
    assert [w.split("'")[1] for w in warnings] == ["[1].region", "[2].customer_id"]
    rows = [{**POSITIVE, "customer_id": "C1"}, {**POSITIVE, "region": "EU"}]
    _, warnings, _ = both_paths(binary, rows)
    assert [w.split("'")[1] for w in warnings] == ["[0].customer_id", "[1].region"]


def test_repeated_keys_and_odd_values(binary: LoadedModel) -> None:
    # The last of a repeated key wins on both paths.
    body = b'[{"usage_minutes": 500, "plan": "pro", "signup_date": null, "tickets": 1,'
    body += b' "usage_minutes": 5}]'
    batch = binary.decode_batch(body)
    assert batch is not None
    assert binary.validate_and_predict_rows(batch) == binary.validate_and_predict_rows(
        msgspec.json.decode(body)
    )
    # Ignored columns take any JSON value, nested ones included.
    rows = [{**POSITIVE, "customer_id": {"id": [1, {"x": None}]}}, {**POSITIVE, "region": []}]
    both_paths(binary, rows)
    assert both_paths(binary, []) == ([], [], [])


def test_names_that_are_not_identifiers(binary: LoadedModel) -> None:
    """Column names become JSON names, never attribute names."""
    renamed = {"usage_minutes": "usage minutes", "plan": "class", "tickets": "f0"}
    inputs = [
        FeatureSpec(renamed.get(s.name, s.name), s.kind, s.categories, s.required)
        for s in binary.meta.inputs
    ]
    meta = msgspec.structs.replace(binary.meta, inputs=inputs, ignored_columns=["f1", "None"])
    model = LoadedModel(meta, binary.booster)
    rows = [{renamed.get(k, k): v for k, v in row.items()} for row in (POSITIVE, NEGATIVE)]
    rows[1]["f1"] = 5
    errors, warnings, predictions = both_paths(model, rows)
    assert errors == [] and warnings == ["field '[1].f1' is not used by the model and was ignored"]
    assert predictions == binary.predict_rows([POSITIVE, NEGATIVE])
    assert model.decode_batch(body_of([{"usage_minutes": 1}])) is None  # the old name: unknown


@pytest.mark.parametrize(
    "body",
    [
        b'[{"usage_minutes": 1, "bogus": 2}]',  # an unknown field
        b'[{"usage_minutes": "12"}]',  # a string for a number
        b'[{"usage_minutes": true}]',  # a boolean for a number
        b'[{"plan": 3}]',  # a number for a category
        b'[{"signup_date": 20230101}]',  # a number for a date
        b"[1, {}]",  # an element that is not an object
        b"[{",  # malformed JSON
        b'{"usage_minutes": 1}',  # not an array
        b"",
        b"[" * 3000 + b"]" * 3000,
    ],
)
def test_bodies_the_decoder_refuses_fall_back(binary: LoadedModel, body: bytes) -> None:
    assert binary.decode_batch(body) is None


def test_the_api_answers_alike_on_both_paths(binary: LoadedModel) -> None:
    """`answer_batch` (raw body) against `predict_batch` on plain JSON: same bytes, same
    422 details, same warnings."""
    where = "POST /models/churn/v1/predictions"
    rows: list[Any] = [dict(POSITIVE, customer_id=f"C{i}") for i in range(300)]
    rows[7]["plan"] = "gold"
    body = body_of(rows)
    assert answer_batch(binary, body, False, False, where) == predict_batch(
        binary, as_json(rows), False
    )
    for bad in (
        [*rows[:3], {**POSITIVE, "tickets": 2.5}],  # the fast path finds it
        [*rows[:3], {**POSITIVE, "tickets": "2"}, {**POSITIVE, "bogus": 1}, 7],  # the fallback
    ):
        for strict in (False, True):
            with pytest.raises(ApiError) as fast:
                answer_batch(binary, body_of(bad), strict, False, where)
            with pytest.raises(ApiError) as plain:
                predict_batch(binary, as_json(bad), strict)
            assert fast.value.status == plain.value.status == 422
            assert fast.value.message == plain.value.message
            assert fast.value.details == plain.value.details


# ---------------------------------------------------------------------- explanations


def check_sums(explanation: dict[str, Any], model: LoadedModel) -> None:
    """base_value + contributions == raw_score, one contribution per input, in order."""
    assert list(explanation["contributions"]) == [s.name for s in model.meta.inputs]
    total = explanation["base_value"] + math.fsum(explanation["contributions"].values())
    assert total == pytest.approx(explanation["raw_score"], abs=1e-9)


def test_binary_explanations(binary: LoadedModel) -> None:
    rows = as_json(_rows(_churn_row, binary, 200, seed=41))
    predictions = binary.predict_rows(rows)
    explanations = binary.explain_rows(rows)
    assert len(explanations) == len(rows)
    for row, prediction, explanation in zip(rows, predictions, explanations, strict=True):
        assert explanation["scale"] == "log_odds"
        assert explanation["positive_class"] is True  # typed like the target
        check_sums(explanation, binary)
        p = prediction["churned_probability"]
        assert explanation["raw_score"] == pytest.approx(math.log(p / (1 - p)), abs=1e-9)
        one = binary.explain_one(row)
        assert one["contributions"] == pytest.approx(explanation["contributions"], abs=1e-12)
    # The same base value for every row; usage decides churn, so it matters most.
    assert len({e["base_value"] for e in explanations}) == 1
    spread = {
        name: np.std([e["contributions"][name] for e in explanations])
        for name in explanations[0]["contributions"]
    }
    assert max(spread, key=spread.__getitem__) == "usage_minutes"


def test_a_date_contributes_the_sum_of_its_parts(binary: LoadedModel) -> None:
    rows = as_json(_rows(_churn_row, binary, 50, seed=42))
    matrix = binary.matrix(rows)
    raw = np.asarray(binary.booster.predict(matrix, pred_contrib=True))
    columns, _ = matrix_layout(binary.meta.inputs)
    parts = [i for i, c in enumerate(columns) if c.startswith("signup_date.")]
    assert len(parts) == 5
    for i, explanation in enumerate(binary.explain_rows(rows)):
        assert explanation["contributions"]["signup_date"] == pytest.approx(
            raw[i, parts].sum(), abs=1e-12
        )
        assert explanation["base_value"] == pytest.approx(raw[i, -1], abs=1e-12)


def test_regression_explanations(regression: LoadedModel) -> None:
    rows = as_json(_rows(_segment_row, regression, 100, seed=43))
    predictions = regression.predict_rows(rows)
    for prediction, explanation in zip(predictions, regression.explain_rows(rows), strict=True):
        assert explanation["scale"] == "value" and "positive_class" not in explanation
        check_sums(explanation, regression)
        assert explanation["raw_score"] == pytest.approx(prediction["spend"], abs=1e-9)


def test_multiclass_explanations(multiclass: LoadedModel) -> None:
    rows = as_json(_rows(_segment_row, multiclass, 100, seed=44))
    predictions = multiclass.predict_rows(rows)
    for prediction, explanation in zip(predictions, multiclass.explain_rows(rows), strict=True):
        assert set(explanation) == {"scale", "classes"} and explanation["scale"] == "logit"
        classes = explanation["classes"]
        assert list(classes) == multiclass.meta.classes
        for part in classes.values():
            check_sums(part, multiclass)  # last_seen: a date-time, summed into one field
        scores = np.array([part["raw_score"] for part in classes.values()])
        softmax = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        expected = [prediction["probabilities"][c] for c in classes]
        assert softmax == pytest.approx(expected, abs=1e-9)


def test_explained_json_answers(binary: LoadedModel, multiclass: LoadedModel) -> None:
    for model, make in ((binary, _churn_row), (multiclass, _segment_row)):
        rows = _rows(make, model, 60, seed=45)
        for row in rows:
            for spec in model.meta.inputs:
                row.setdefault(spec.name, None)
        plain = model.validate_and_predict_json(decoded(model, rows))
        errors, warnings, body = model.validate_and_predict_json(decoded(model, rows), explain=True)
        assert (errors, warnings) == plain[:2] and body is not None and plain[2] is not None
        items = json.loads(body)
        assert [{"prediction": i["prediction"]} for i in items] == json.loads(plain[2])
        expected = json.loads(json.dumps(model.explain_rows(as_json(rows))))
        assert [i["explanation"] for i in items] == expected
        # errors stay errors
        bad = [*rows[:2], {**rows[2], "bogus": 1}]
        assert model.validate_and_predict_json(as_json(bad), explain=True)[2] is None


def test_explaining_does_not_touch_the_fast_path(binary: LoadedModel) -> None:
    """Nothing in the non-explained answer changes (same keys, same numbers)."""
    rows = [POSITIVE, NEGATIVE]
    _, _, body = binary.validate_and_predict_json(decoded(binary, rows))
    assert body is not None
    assert json.loads(body) == [{"prediction": binary.predict_one(r)} for r in rows]
