"""The two shapes of a model's schemas: JSON Schema and the simple `{"field": "type"}` form.

Versions store JSON Schema (what `GET /models/{name}/{version}` returns); the
Plexe Models API shows the simple form in the model record and in `describe`.
"""

from __future__ import annotations

from typing import Any

_FORMATS = {"date": "date", "date-time": "datetime"}
_TYPES = {"number": "float", "integer": "integer", "boolean": "boolean", "object": "object"}


def simple_type(prop: dict[str, Any]) -> str | None:
    """The simple type name of one JSON Schema property; None if it has no type."""
    declared = prop.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    types = [t for t in types if t != "null"]
    if not types:
        return None if "type" not in prop else "null"
    kind = types[0]
    if kind == "string":
        return _FORMATS.get(str(prop.get("format")), "string")
    return _TYPES.get(kind, str(kind))


def simple_schema(schema: dict[str, Any] | None) -> dict[str, str]:
    """`{"field": "type"}` of a JSON Schema object; typeless (ignored) fields are left out."""
    if not schema:
        return {}
    out: dict[str, str] = {}
    for name, prop in (schema.get("properties") or {}).items():
        kind = simple_type(prop) if isinstance(prop, dict) else None
        if kind is not None:
            out[name] = kind
    return out


def field_names(schema: dict[str, Any] | None) -> list[str]:
    """The field names of a user-given schema, simple or JSON Schema."""
    if not schema:
        return []
    props = schema.get("properties")
    return list(props) if isinstance(props, dict) else list(schema)
