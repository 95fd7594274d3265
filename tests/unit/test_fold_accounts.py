"""The fold on account streams: accounts, key issuance and revocation, decided by the log."""

from __future__ import annotations

import msgspec

from intentml.domain.fold import StreamState, decide, decode_state, encode_state
from intentml.domain.keys import hash_key, key_id_for
from intentml.events.envelope import Envelope, decode, encode, make_event
from intentml.events.types import (
    AccountCreated,
    ApiKeyIssued,
    ApiKeyLimitsChanged,
    ApiKeyRevoked,
    EventData,
    RateLimits,
)


def ev(data: EventData, model: str = "") -> Envelope:
    return make_event(data, account_id="acme", model_name=model, actor="key_admin")


def issued(secret: str = "iml_sk_one", scope: str = "read_only") -> ApiKeyIssued:
    digest = hash_key(secret)
    return ApiKeyIssued(key_id=key_id_for(digest), key_hash=digest, scope=scope, name="ci")


def fold(events: list[Envelope]) -> tuple[StreamState, list[tuple[bool, str | None]]]:
    state, verdicts = StreamState(), []
    for e in events:
        d = decide(state, e)
        state = d.state
        verdicts.append((d.accepted, d.reason))
    return state, verdicts


def test_an_account_is_created_once() -> None:
    state, verdicts = fold([ev(AccountCreated()), ev(AccountCreated())])
    assert verdicts[0] == (True, None)
    assert verdicts[1] == (False, "the account already exists")
    assert state.account_created


def test_a_key_is_issued_once_with_a_known_scope_and_its_derived_id() -> None:
    key = issued()
    state, verdicts = fold(
        [
            ev(key),
            ev(key),
            ev(issued("iml_sk_two", scope="owner")),
            ev(ApiKeyIssued(key_id="key_mine", key_hash=hash_key("iml_sk_3"), scope="admin")),
        ]
    )
    assert [a for a, _ in verdicts] == [True, False, False, False]
    assert verdicts[1][1] == "this key is already registered"
    assert verdicts[2][1] == "unknown scope 'owner'; one of: read_only, read_write, admin"
    assert verdicts[3][1] == "a key id must be derived from the key's hash"
    assert state.key_hashes == {key.key_hash}


def test_revocation_applies_once_and_only_to_a_key_of_the_stream() -> None:
    key = issued()
    other = issued("iml_sk_other")
    state, verdicts = fold(
        [
            ev(key),
            ev(ApiKeyRevoked(key_id=other.key_id)),  # never issued in this account
            ev(ApiKeyRevoked(key_id=key.key_id, revoked_by="key_admin")),
            ev(ApiKeyRevoked(key_id=key.key_id)),
            ev(key),  # a revoked key is never registered again
        ]
    )
    assert verdicts == [
        (True, None),
        (False, f"the account has no key '{other.key_id}'"),
        (True, None),
        (False, f"key '{key.key_id}' is already revoked"),
        (False, "this key is already registered"),
    ]
    assert state.revoked_keys == {key.key_id}


def test_account_events_outside_the_account_stream_are_rejected() -> None:
    _, verdicts = fold([ev(issued(), model="churn"), ev(AccountCreated(), model="churn")])
    assert verdicts == [(False, "account events belong to the account's own stream")] * 2


def test_a_state_from_before_accounts_decodes_and_revokes_its_keys() -> None:
    # What the aggregates table holds for an account stream written before issue 5.
    key = issued(scope="admin")
    old = b'{"model_id":null,"versions":{},"deployments":{},"key_hashes":["%s"],"upload_ids":[]}'
    state = decode_state(old % key.key_hash.encode())
    assert not state.account_created and state.revoked_keys == frozenset()
    verdict = decide(state, ev(ApiKeyRevoked(key_id=key.key_id)))
    assert verdict.accepted
    assert decode_state(encode_state(verdict.state)) == verdict.state


def test_old_key_events_still_decode_and_new_fields_round_trip() -> None:
    before = (
        b'{"event_id":"e1","type":"ApiKeyIssued","schema_version":1,'
        b'"occurred_at":"2026-01-01T00:00:00Z","account_id":"default","model_name":"",'
        b'"actor":"intentml-bootstrap","prev_hash":"",'
        b'"data":{"type":"ApiKeyIssued","key_id":"key_1","key_hash":"h","scope":"admin",'
        b'"name":"bootstrap"}}'
    )
    data = decode(before).data
    assert isinstance(data, ApiKeyIssued)
    # v1 left the author empty: upcast to v2, it is the envelope's actor
    assert data.issued_by == "intentml-bootstrap" and data.rate_limits is None
    limited = ev(
        ApiKeyIssued(
            key_id="key_2",
            key_hash="h2",
            scope="read_write",
            issued_by="key_admin",
            rate_limits=RateLimits(inference_per_minute=None, management_per_minute=60),
        )
    )
    assert decode(encode(limited)) == limited
    assert b"iml_sk_" not in encode(ev(issued()))


def test_limits_change_only_for_a_live_key_of_the_stream_and_must_be_positive() -> None:
    key = issued()
    other = issued("iml_sk_other")
    _, verdicts = fold(
        [
            ev(key),
            ev(ApiKeyLimitsChanged(key_id=key.key_id, rate_limits=RateLimits())),
            ev(ApiKeyLimitsChanged(key_id=key.key_id, rate_limits=None)),
            ev(
                ApiKeyLimitsChanged(
                    key_id=key.key_id, rate_limits=RateLimits(management_per_minute=0)
                )
            ),
            ev(ApiKeyLimitsChanged(key_id=other.key_id, rate_limits=None)),
            ev(ApiKeyRevoked(key_id=key.key_id)),
            ev(ApiKeyLimitsChanged(key_id=key.key_id, rate_limits=None)),
            ev(
                msgspec.structs.replace(
                    issued("iml_sk_3"), rate_limits=RateLimits(inference_per_minute=-1)
                )
            ),
        ]
    )
    assert [a for a, _ in verdicts] == [True, True, True, False, False, True, False, False]
    bad = "a rate limit is at least 1 request per minute, or none"
    assert verdicts[3][1] == verdicts[7][1] == bad
    assert verdicts[4][1] == f"the account has no key '{other.key_id}'"
    assert verdicts[6][1] == f"key '{key.key_id}' is revoked; its limits no longer matter"
