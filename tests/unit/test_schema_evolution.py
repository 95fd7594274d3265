"""Schema versions and upcasters: old events still decode, as today's shapes."""

from __future__ import annotations

import typing
from typing import Any

import msgspec
import pytest

from intentml.events.envelope import Envelope, decode, encode, make_event
from intentml.events.schema import (
    SCHEMA_VERSIONS,
    UnknownSchemaVersion,
    check_registry,
    current_version,
    upcast,
)
from intentml.events.types import ApiKeyIssued, ApiKeyRevoked, EventData, ModelDeleted


def _v1_key_issued(issued_by: str = "") -> bytes:
    """An ApiKeyIssued as version 1 wrote it: the author could be left empty."""
    env = make_event(
        ApiKeyIssued(key_id="key_1", key_hash="h", scope="admin", issued_by=issued_by),
        account_id="acme",
        actor="key_admin",
    )
    return encode(msgspec.structs.replace(env, schema_version=1))


def test_every_type_has_a_version_and_every_old_version_an_upcaster() -> None:
    assert check_registry() == []
    names = {t.__name__ for t in typing.get_args(EventData)}
    assert set(SCHEMA_VERSIONS) <= names  # no version for a type that does not exist
    for name in names:
        assert current_version(name) >= 1


def test_new_events_are_written_with_their_types_current_version() -> None:
    env = make_event(ApiKeyRevoked(key_id="key_1", revoked_by="key_a"), account_id="acme")
    assert env.schema_version == 2 == SCHEMA_VERSIONS["ApiKeyRevoked"]
    assert make_event(ModelDeleted(model_id="m"), account_id="a").schema_version == 1
    assert decode(encode(env)) == env


def test_a_version_1_event_decodes_upcast() -> None:
    value = _v1_key_issued()
    assert msgspec.json.decode(value)["schema_version"] == 1
    env = decode(value)
    assert env.schema_version == 2
    assert isinstance(env.data, ApiKeyIssued)
    assert env.data.issued_by == "key_admin"  # the actor, named
    # a v1 event that did name its author keeps it
    named = decode(_v1_key_issued("key_other")).data
    assert isinstance(named, ApiKeyIssued) and named.issued_by == "key_other"


def test_a_version_newer_than_the_code_is_refused() -> None:
    raw = msgspec.json.decode(_v1_key_issued())
    raw["schema_version"] = 3
    with pytest.raises(UnknownSchemaVersion, match="upgrade"):
        upcast(raw)
    with pytest.raises(UnknownSchemaVersion):
        decode(msgspec.json.encode(raw))


def test_upcasters_chain_one_version_at_a_time() -> None:
    # A registry of its own: a type at version 3 whose field was renamed in v2 and
    # whose meaning changed in v3 (seconds to milliseconds).
    def v1_to_v2(env: dict[str, Any]) -> dict[str, Any]:
        data = dict(env["data"])
        data["seconds"] = data.pop("secs")
        return {**env, "data": data}

    def v2_to_v3(env: dict[str, Any]) -> dict[str, Any]:
        data = dict(env["data"])
        data["ms"] = data.pop("seconds") * 1000
        return {**env, "data": data}

    versions = {"Timed": 3}
    upcasters = {("Timed", 1): v1_to_v2, ("Timed", 2): v2_to_v3}
    assert check_registry(versions, upcasters) == []
    assert check_registry(versions, {("Timed", 1): v1_to_v2}) == ["Timed v2 has no upcaster"]
    old = {"type": "Timed", "schema_version": 1, "data": {"type": "Timed", "secs": 2}}
    new = upcast(old, versions, upcasters)
    assert new == {"type": "Timed", "schema_version": 3, "data": {"type": "Timed", "ms": 2000}}
    assert old["data"] == {"type": "Timed", "secs": 2}  # the input is left alone
    assert upcast(new, versions, upcasters) == new


def test_the_envelope_fields_decode_without_a_version() -> None:
    # the first events predate nothing, but the field must never become required
    raw = msgspec.json.decode(encode(make_event(ModelDeleted(model_id="m"), account_id="a")))
    del raw["schema_version"]
    assert decode(msgspec.json.encode(raw)).schema_version == 1
    assert isinstance(decode(msgspec.json.encode(raw)), Envelope)
