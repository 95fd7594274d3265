"""The event contract documents: complete, self-consistent, and committed as generated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intentml.events.contract import DOCUMENTS, asyncapi, event_types, json_schema, render
from intentml.events.schema import current_version

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_the_committed_document_is_the_generated_one(name: str) -> None:
    committed = (DOCS / name).read_text(encoding="utf-8")
    assert committed == render(DOCUMENTS[name]()), (
        f"docs/{name} is stale: regenerate it with `intentml events contract --write docs`"
    )


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_every_event_type_is_a_message_with_its_headers_and_payload() -> None:
    doc = asyncapi("my.topic")
    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["events"]["address"] == "my.topic"
    messages = doc["components"]["messages"]
    names = [t.__name__ for t in event_types()]
    assert list(messages) == names and len(names) >= 19
    for name in names:
        m = messages[name]
        assert m["headers"]["properties"]["ce_type"] == {"const": f"ai.intentml.{name}"}
        envelope, own = m["payload"]["allOf"]
        assert envelope == {"$ref": "#/components/schemas/Envelope"}
        assert own["properties"]["type"] == {"const": name}
        assert own["properties"]["schema_version"] == {"const": current_version(name)}
        data = _resolve(doc, own["properties"]["data"]["$ref"])
        assert data["properties"]["type"] == {"enum": [name]}  # msgspec's tag
        assert "key" in m["bindings"]["kafka"]
    assert len(doc["operations"]["receiveEvents"]["messages"]) == len(names)
    # every reference resolves inside the document
    for ref in _refs(doc):
        assert _resolve(doc, ref) is not None, ref


def test_the_json_schema_covers_every_type() -> None:
    schema = json_schema()
    assert schema["$ref"] == "#/$defs/Envelope"
    assert {t.__name__ for t in event_types()} <= set(schema["$defs"])
    for ref in _refs(schema):
        assert _resolve(schema, ref) is not None
    json.dumps(schema)  # plain JSON
