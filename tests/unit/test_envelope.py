"""Envelope encoding, the hash link, CloudEvents headers, names and versions."""

from __future__ import annotations

import hashlib

import msgspec
import pytest

from intentml.domain.keys import generate_key, hash_key, key_id_for
from intentml.domain.names import parse_version, valid_model_name, version_label
from intentml.events.envelope import cloudevents_headers, decode, encode, event_hash, make_event
from intentml.events.types import BuildStarted


def test_envelope_round_trips_and_carries_its_type() -> None:
    env = make_event(
        BuildStarted(job_id="j", version=2), account_id="acme", model_name="m", actor="key_1"
    )
    raw = encode(env)
    back = decode(raw)
    assert back == env
    assert back.type == "BuildStarted"
    assert msgspec.json.decode(raw)["data"]["type"] == "BuildStarted"
    assert env.stream == "acme/m"
    assert event_hash(raw) == hashlib.sha256(raw).hexdigest()


def test_event_ids_are_time_ordered_uuid7() -> None:
    a = make_event(BuildStarted(job_id="j", version=1), account_id="a")
    b = make_event(BuildStarted(job_id="j", version=1), account_id="a")
    assert a.event_id[14] == "7"
    assert a.event_id < b.event_id


def test_cloudevents_headers_route_without_decoding() -> None:
    env = make_event(BuildStarted(job_id="j", version=1), account_id="acme", model_name="m")
    headers = dict(cloudevents_headers(env))
    assert headers["ce_id"] == env.event_id.encode()
    assert headers["ce_type"] == b"ai.intentml.BuildStarted"
    assert headers["ce_subject"] == b"acme/m"
    assert headers["ce_specversion"] == b"1.0"
    assert {"ce_source", "ce_time"} <= headers.keys()


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("v1", 1),
        ("v1.0", 1),
        ("1", 1),
        ("V12", 12),
        ("v0", None),
        ("v1.1", None),
        ("latest", None),
        ("", None),
        ("../1", None),
    ],
)
def test_version_references(ref: str, expected: int | None) -> None:
    assert parse_version(ref) == expected


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("customer-churn", True),
        ("churn_v2.1", True),
        ("a" * 100, True),
        ("a" * 101, False),
        ("", False),
        ("../etc", False),
        (".hidden", False),
        ("has space", False),
        ("x/y", False),
    ],
)
def test_model_names(name: str, ok: bool) -> None:
    assert valid_model_name(name) is ok


def test_keys_are_prefixed_and_only_hashes_are_kept() -> None:
    key = generate_key()
    assert key.startswith("iml_sk_") and len(key) > 30
    assert hash_key(key) != key and len(hash_key(key)) == 64
    assert key_id_for(hash_key(key)).startswith("key_")
    assert version_label(3) == "v3"
