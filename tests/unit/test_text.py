"""Text PostgreSQL can store: one rule for the API and the fold."""

from __future__ import annotations

import msgspec

from intentml.domain.fold import StreamState, decide
from intentml.domain.text import storable, unstorable, unstorable_field, unstorable_in
from intentml.events.envelope import make_event
from intentml.events.types import ModelUpdated


def test_nul_and_lone_surrogates_are_unstorable_and_replaced() -> None:
    assert unstorable("a\x00b") and unstorable("\ud800") and unstorable("\udfff")
    assert not unstorable("plain, accents é, emoji 😀, \\u0000 as text")
    assert storable("a\x00b\ud800") == "a\ufffdb\ufffd"


def test_the_path_of_the_first_unstorable_string_is_named() -> None:
    assert unstorable_field({"a": "ok", "tags": ["x", "y\x00"]}) == "tags[1]"
    assert unstorable_field({"training": {"intent": "\x00"}}) == "training.intent"
    assert unstorable_field({"k\x00": 1}) == "k\ufffd"
    assert unstorable_field({"a": [1, 2.0, None, True, {"b": "c"}]}) is None


def test_structs_are_checked_fast_and_exactly() -> None:
    ok = ModelUpdated(model_id="m", description="a \\u0000 typed out")
    bad = ModelUpdated(model_id="m", description="nul\x00")
    surrogate = ModelUpdated(model_id="m", tags=["\ud800"])
    assert unstorable_in(ok) is None
    assert unstorable_in(bad) == "description"
    assert unstorable_in(surrogate) == "tags[0]"


def test_the_fold_rejects_an_event_it_could_not_store_with_the_field_named() -> None:
    state = StreamState(model_id="m")
    event = make_event(
        ModelUpdated(model_id="m", description="x\x00"), account_id="acme", model_name="churn"
    )
    verdict = decide(state, event)
    assert not verdict.accepted and verdict.state == state
    assert verdict.reason is not None and "'data.description'" in verdict.reason
    assert decide(state, msgspec.structs.replace(event, account_id="a\x00")).reason is not None
    clean = msgspec.structs.replace(event, data=ModelUpdated(model_id="m", description="x"))
    assert decide(state, clean).accepted
