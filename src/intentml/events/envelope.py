"""The one envelope every event travels in, and its JSON codec.

The envelope's bytes are what Kafka stores and what the hash chain covers:
`hash = sha256(value)`, and each event names the hash of the previous event of
its stream (`prev_hash`), so an auditor can verify a stream without trusting
the database.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import get_args

import msgspec
import uuid_utils

from intentml.events.schema import current_version, upcast
from intentml.events.types import EventData

#: The version an envelope without `schema_version` is read as (none was ever written
#: without it; kept so the field can never be required).
SCHEMA_VERSION = 1


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """One event: who did what to which model, when, and why (causation)."""

    event_id: str
    type: str
    #: The version of the `data` type's schema (`intentml.events.schema`): events are
    #: written with the current one and older ones are upcast when decoded.
    schema_version: int = SCHEMA_VERSION
    occurred_at: datetime
    account_id: str
    model_name: str = ""
    causation_id: str | None = None
    correlation_id: str | None = None
    actor: str = ""
    prev_hash: str = ""
    data: EventData

    @property
    def stream(self) -> str:
        """The aggregate key: one model's (or one account's) totally ordered stream."""
        return f"{self.account_id}/{self.model_name}"


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Envelope)
#: The event types this code knows (the tags of `EventData`).
_TYPES = frozenset(t.__name__ for t in get_args(EventData))


def new_id() -> str:
    """A time-ordered UUIDv7 string."""
    return str(uuid_utils.uuid7())


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def make_event(
    data: EventData,
    *,
    account_id: str,
    model_name: str = "",
    actor: str = "",
    causation_id: str | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """Wrap `data` in a fresh envelope; `prev_hash` is filled in at append time."""
    event_id = new_id()
    type_name = type(data).__name__
    return Envelope(
        event_id=event_id,
        type=type_name,
        schema_version=current_version(type_name),
        occurred_at=utcnow(),
        account_id=account_id,
        model_name=model_name,
        causation_id=causation_id,
        correlation_id=correlation_id or event_id,
        actor=actor,
        data=data,
    )


def encode(envelope: Envelope) -> bytes:
    """The canonical bytes of an envelope (what Kafka stores and the hash covers)."""
    return _encoder.encode(envelope)


def decode(value: bytes) -> Envelope:
    """Decode an envelope from Kafka bytes, upcast to the current version of its type.

    Current events (nearly all) decode in one step; an older one is decoded to plain
    JSON, upcast (`intentml.events.schema.upcast`) and decoded again. The stored bytes
    are never changed: the hash chain covers them.
    """
    try:
        envelope = _decoder.decode(value)
    except msgspec.ValidationError:
        envelope = None  # perhaps an older shape: upcast below
    if envelope is not None and envelope.schema_version == current_version(envelope.type):
        return envelope
    raw = msgspec.json.decode(value)
    if not isinstance(raw, dict) or raw.get("type") not in _TYPES:
        # Not ours to upcast: whatever its version says, a type we do not know is not
        # an event we can read (the projector quarantines it rather than halting on it).
        kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
        raise msgspec.ValidationError(f"not an intentml event: unknown type {kind!r}")
    return _decoder.decode(_encoder.encode(upcast(raw)))


def event_hash(value: bytes) -> str:
    """The link of the hash chain: sha256 of the stored bytes, hex."""
    return hashlib.sha256(value).hexdigest()


def cloudevents_headers(envelope: Envelope, source: str = "intentml") -> list[tuple[str, bytes]]:
    """CloudEvents binary-mode headers, so subscribers can route without decoding."""
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", envelope.event_id.encode()),
        ("ce_type", f"ai.intentml.{envelope.type}".encode()),
        ("ce_source", f"/{source}/{envelope.account_id}".encode()),
        ("ce_time", envelope.occurred_at.isoformat().encode()),
        ("ce_subject", envelope.stream.encode()),
        ("content-type", b"application/json"),
    ]
