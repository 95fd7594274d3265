"""The parts `LoadedModel` is built from, each on its own (no booster needed)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from intentml.ml.serving import FeatureSpec, InvalidInput, ModelMeta
from intentml.ml.serving.batch import BatchValidator, _survey
from intentml.ml.serving.codec import ABSENT, InputCodec
from intentml.ml.serving.outputs import OutputFormatter, served_outputs
from intentml.ml.serving.validation import InputValidator, extra_keys, sample_input

META = ModelMeta(
    task="binary",
    target="churned",
    target_type="boolean",
    classes=["false", "true"],
    positive_class="true",
    inputs=[
        FeatureSpec("usage", "number"),
        FeatureSpec("plan", "category", ["basic", "pro"], required=False),
        FeatureSpec("signup", "date", required=False),
    ],
    ignored_columns=["customer_id", "churned"],
    output_fields=["churned", "churn_probability", "risk_level"],
)


def _parts() -> tuple[InputValidator, InputCodec, BatchValidator]:
    validator = InputValidator(META)
    codec = InputCodec(META.inputs, [k for k, _ in validator.extra_keys], validator.invalid)
    return validator, codec, BatchValidator(validator, codec)


def test_extra_keys_are_the_ignored_columns_then_the_target_once() -> None:
    assert extra_keys(META) == [("customer_id", "ignored"), ("churned", "ignored")]
    plain = ModelMeta(task="regression", target="price", inputs=[FeatureSpec("x", "number")])
    assert extra_keys(plain) == [("price", "target")]


def test_codec_lays_out_inputs_and_converts_a_row() -> None:
    _, codec, _ = _parts()
    assert [(c.spec.name, c.offset, c.width) for c in codec.columns] == [
        ("usage", 0, 1),
        ("plan", 1, 1),
        ("signup", 2, 5),
    ]
    assert codec.width == 7
    vector = codec.vector({"usage": 3, "plan": "pro", "signup": "1970-01-02"})
    assert vector == [3.0, 1.0, 1970.0, 1.0, 2.0, 4.0, 1.0]
    assert math.isnan(codec.vector({"usage": 1, "plan": "gold"})[1])


def test_codec_matrix_paths_agree_and_bad_rows_raise_invalid_input() -> None:
    _, codec, _ = _parts()
    rows: list[dict[str, Any]] = [
        {"usage": 1.5, "plan": "basic", "signup": "2024-05-01"},
        {"usage": 2, "plan": None},
    ]
    column_wise = codec.feature_matrix(rows)
    row_wise = np.array([codec.vector(r) for r in rows])
    np.testing.assert_array_equal(column_wise, row_wise)
    with pytest.raises(InvalidInput) as caught:
        codec.feature_matrix([{"usage": 1}, {"usage": "many"}])
    assert caught.value.errors[0].field == "[1].usage"
    with pytest.raises(InvalidInput):
        codec.checked_vector({"usage": "many"})


def test_survey_of_a_decoded_numeric_column_counts_the_absent() -> None:
    survey = _survey([1.0, ABSENT, None, 3], "number", typed=True)
    assert survey.absent == 1 and not survey.converted
    survey = _survey([1.0, None, 3], "number", typed=True)
    assert survey.converted and survey.numeric is not None
    survey = _survey(["a", 1, ABSENT], "category", typed=False)
    assert survey.types == {str, int} and survey.absent == 1


def test_batch_validator_fills_the_matrix_it_checks() -> None:
    _, codec, batches = _parts()
    rows = [{"usage": 1, "plan": "pro", "customer_id": 7}, {"usage": 2.5}]
    errors, warnings, matrix = batches.validated_matrix(rows, strict=False)
    assert errors == [] and len(warnings) == 1 and "customer_id" in warnings[0]
    assert matrix is not None
    np.testing.assert_array_equal(matrix, codec.feature_matrix(rows))
    errors, _, matrix = batches.validated_matrix([{"plan": "pro"}], strict=False)
    assert matrix is None and [e.field for e in errors] == ["[0].usage"]


def test_output_formatter_serves_the_artifact_fields() -> None:
    assert served_outputs(META) == [
        ("churned", "label"),
        ("churn_probability", "probability"),
        ("risk_level", "risk_level"),
    ]
    outputs = OutputFormatter(META)
    assert outputs.format(0.8) == {"churned": True, "churn_probability": 0.8, "risk_level": "high"}
    assert outputs.format_many(np.array([0.8, 0.1])) == [
        outputs.format(0.8),
        outputs.format(0.1),
    ]
    assert outputs.schema()["required"] == ["churned", "churn_probability", "risk_level"]


def test_sample_input_fills_what_the_artifact_lacks() -> None:
    assert sample_input(META) == {"usage": 0.0, "plan": "basic", "signup": "2000-01-01"}
