"""`TrainingOptions`: one Struct the request bodies extend and the events carry whole."""

from __future__ import annotations

import msgspec
import pytest

from intentml.api.schemas import CreateModelIn, CreateVersionIn, RetrainIn
from intentml.domain.training_options import DEFAULT_SEED, TrainingOptions, options_of

BODIES = (CreateModelIn, RetrainIn, CreateVersionIn)


@pytest.mark.parametrize("body", BODIES)
def test_every_option_is_a_field_of_every_body_that_requests_a_build(body: type) -> None:
    assert set(TrainingOptions.__struct_fields__) <= set(body.__struct_fields__)


def test_options_of_a_body_are_exactly_the_options() -> None:
    raw = b'{"intent": "Predict churn", "upload_id": "u", "seed": 3, "max_iterations": 4}'
    body = msgspec.json.decode(raw, type=CreateModelIn)
    options = options_of(body)
    assert type(options) is TrainingOptions
    assert options == TrainingOptions(max_iterations=4, seed=3)
    # what an event carries: the options, none of the body's other fields
    assert msgspec.to_builtins(options) == {
        "metric": None,
        "task": None,
        "max_iterations": 4,
        "time_budget_s": None,
        "seed": 3,
    }
    plain = TrainingOptions(task="binary")
    assert options_of(plain) is plain


def test_a_body_without_options_gets_the_defaults() -> None:
    body = msgspec.json.decode(b"{}", type=RetrainIn)
    assert options_of(body) == TrainingOptions() and options_of(body).seed == DEFAULT_SEED


@pytest.mark.parametrize(
    "bad", [{"seed": -1}, {"seed": 2**31}, {"max_iterations": 0}, {"time_budget_s": 0}]
)
def test_the_options_constraints_hold_wherever_they_are_decoded(bad: dict[str, object]) -> None:
    with pytest.raises(msgspec.ValidationError, match=next(iter(bad))):
        msgspec.convert(bad, TrainingOptions)
    with pytest.raises(msgspec.ValidationError, match=next(iter(bad))):
        msgspec.convert({"intent": "x", **bad}, CreateModelIn)
