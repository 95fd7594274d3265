"""The event contract for subscribers, generated from the msgspec Structs, pure.

Two documents: a JSON Schema of the envelope and every event type
(`docs/events.schema.json`), and an AsyncAPI 3 document of the topic, its keys,
the CloudEvents headers and one message per event type (`docs/asyncapi.json`, also
served at `/events/asyncapi.json`). Both are generated from the Structs the
platform itself decodes with, so they cannot drift from the code; a test checks
that the committed files equal what this module generates
(`intentml events contract --write docs` regenerates them).
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import msgspec

from intentml.config import DEFAULT_TOPIC
from intentml.events.envelope import Envelope
from intentml.events.log import TOPIC_CONFIGS
from intentml.events.schema import current_version
from intentml.events.types import EventData

#: The version of the contract documents: bumped with any change a subscriber sees.
CONTRACT_VERSION = "2.1.0"
_REF = "#/components/schemas/{name}"
_KAFKA_BINDING = "0.5.0"


def event_types() -> list[type[msgspec.Struct]]:
    """Every event type of the log, in the order of the `EventData` union."""
    return list(typing.get_args(EventData))


def _summary(t: type) -> str:
    doc = " ".join((t.__doc__ or t.__name__).split())
    return doc.split(". ")[0].rstrip(".")


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of an envelope; every event type's `data` in `$defs`."""
    schema: dict[str, Any] = msgspec.json.schema(Envelope)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://intentml.ai/schemas/events.schema.json",
        "title": "intentml event envelope",
        "description": (
            "One event of the intentml log: the Kafka record value. `data.type` names the "
            "event type; `schema_version` is the version of that type's schema."
        ),
        **schema,
    }


def _headers(type_name: str) -> dict[str, Any]:
    """The CloudEvents binary-mode headers of one event type's records."""
    text = {"type": "string"}
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "ce_subject"],
        "properties": {
            "ce_specversion": {"const": "1.0"},
            "ce_id": {**text, "description": "the envelope's event_id (a UUIDv7)"},
            "ce_type": {"const": f"ai.intentml.{type_name}"},
            "ce_source": {**text, "description": "`/intentml/{account_id}`"},
            "ce_time": {**text, "format": "date-time", "description": "occurred_at"},
            "ce_subject": {**text, "description": "the stream: `{account_id}/{model_name}`"},
            "content-type": {"const": "application/json"},
        },
    }


def _message(t: type[msgspec.Struct]) -> dict[str, Any]:
    """The AsyncAPI message of one event type: an envelope whose `data` is that type."""
    name = t.__name__
    return {
        "name": name,
        "title": name,
        "summary": _summary(t),
        "contentType": "application/json",
        "headers": _headers(name),
        "payload": {
            "allOf": [
                {"$ref": _REF.format(name="Envelope")},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": name},
                        "schema_version": {"const": current_version(name)},
                        "data": {"$ref": _REF.format(name=name)},
                    },
                },
            ]
        },
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": (
                        "`{account_id}/{model_name}` (model name empty for an account's "
                        "own events): one stream per key, totally ordered in one partition"
                    ),
                },
                "bindingVersion": _KAFKA_BINDING,
            }
        },
    }


_DESCRIPTION = (
    "Every command and fact of the intentml platform is one event in one Kafka "
    "topic; subscribers read it with a consumer group of their own. Records are "
    "keyed by stream (`account/model`), so one model's events are totally "
    "ordered. Values are JSON envelopes; CloudEvents binary-mode headers allow "
    "routing without decoding. Each envelope names the sha256 of the previous "
    "event of its stream (`prev_hash`): a per-stream hash chain. "
    "`schema_version` is the version of the event type's schema: new fields "
    "come with defaults (ignore unknown fields), a changed meaning gets a new "
    "version. Delivery is at least once: handle an `event_id` idempotently."
)


def _channel(topic: str, names: list[str]) -> dict[str, Any]:
    """The events topic as an AsyncAPI channel carrying the messages `names`."""
    return {
        "address": topic,
        "title": "The event log",
        "description": f"All events (`INTENTML_TOPIC`, default `{DEFAULT_TOPIC}`), kept forever.",
        "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
        "bindings": {
            "kafka": {
                "topic": topic,
                "topicConfiguration": {
                    "retention.ms": int(TOPIC_CONFIGS["retention.ms"]),
                    "cleanup.policy": [TOPIC_CONFIGS["cleanup.policy"]],
                },
                "bindingVersion": _KAFKA_BINDING,
            }
        },
    }


def asyncapi(topic: str = DEFAULT_TOPIC) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the events topic."""
    _, components = msgspec.json.schema_components([Envelope, *event_types()], ref_template=_REF)
    messages = {t.__name__: _message(t) for t in event_types()}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "intentml events",
            "version": CONTRACT_VERSION,
            "description": _DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "channels": {"events": _channel(topic, list(messages))},
        "operations": {
            "receiveEvents": {
                "action": "receive",
                "title": "Subscribe to the event log",
                "channel": {"$ref": "#/channels/events"},
                "messages": [{"$ref": f"#/channels/events/messages/{n}"} for n in messages],
            }
        },
        "components": {"schemas": components, "messages": messages},
    }


def render(document: dict[str, Any]) -> str:
    """The committed text of a document: stable key order, two-space indents."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


#: File name in `docs/` → the document it holds.
DOCUMENTS = {"asyncapi.json": asyncapi, "events.schema.json": json_schema}


def write_documents(directory: Path) -> list[Path]:
    """Write every contract document into `directory`; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in DOCUMENTS.items():
        path = directory / name
        path.write_text(render(make()), encoding="utf-8")
        written.append(path)
    return written
