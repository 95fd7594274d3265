"""The simple `{"field": "type"}` form of a version's JSON Schema."""

from __future__ import annotations

from intentml.domain.schemas import field_names, simple_schema, simple_type


def test_simple_schema_maps_every_json_type_and_skips_typeless_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "usage_minutes": {"type": ["number", "null"]},
            "support_tickets": {"type": ["integer", "null"]},
            "is_active": {"type": "boolean"},
            "plan_type": {"type": ["string", "null"], "examples": ["basic"]},
            "signup_date": {"type": ["string", "null"], "format": "date"},
            "last_seen": {"type": ["string", "null"], "format": "date-time"},
            "probabilities": {"type": "object", "properties": {}},
            "customer_id": {"description": "not used by the model; ignored"},
            "nothing": {"type": "null"},
        },
    }
    assert simple_schema(schema) == {
        "usage_minutes": "float",
        "support_tickets": "integer",
        "is_active": "boolean",
        "plan_type": "string",
        "signup_date": "date",
        "last_seen": "datetime",
        "probabilities": "object",
        "nothing": "null",
    }
    assert simple_schema(None) == {} and simple_schema({}) == {}
    assert simple_type({"type": ["null", "integer"]}) == "integer"


def test_field_names_of_simple_and_json_schemas() -> None:
    assert field_names({"churn_probability": "float", "risk_level": "string"}) == [
        "churn_probability",
        "risk_level",
    ]
    assert field_names({"properties": {"a": {}, "b": {}}, "required": ["a"]}) == ["a", "b"]
    assert field_names(None) == []
