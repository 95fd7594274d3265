"""Schema versions and upcasters: old events still decode, as today's shapes."""

from __future__ import annotations

import typing
from typing import Any

import msgspec
import pytest

from intentml.domain.training_options import DEFAULT_SEED, TrainingOptions
from intentml.domain.training_report import TrainingResult
from intentml.events.envelope import Envelope, decode, encode, make_event
from intentml.events.schema import (
    SCHEMA_VERSIONS,
    UnknownSchemaVersion,
    check_registry,
    current_version,
    upcast,
)
from intentml.events.types import (
    ApiKeyIssued,
    ApiKeyRevoked,
    EventData,
    ModelCreated,
    ModelDeleted,
    TrainingRequest,
    VersionRequested,
    VersionTrained,
)
from projections.rows import Tables, project


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


# --- v1 → v2 of the training events: options and result nested ----------------

_V1_TRAINING = {
    "job_id": "job_1",
    "version": 1,
    "version_id": "ver_1",
    "upload_id": "upl_1",
    "dataset_format": "csv",
    "intent": "Predict churn",
    "target": "churned",
    "target_reason": "the intent names it",
    "metric": "roc_auc",
    "task": "binary",
    "output_fields": ["churned"],
    "max_iterations": 8,
    "time_budget_s": 30.0,
}
_V1_TRAINED = {
    "job_id": "job_1",
    "version": 1,
    "artifact": "artifacts/acme/m1/v1",
    "task": "binary",
    "metric_name": "roc_auc",
    "metric_value": 0.875,
    "metrics": {"roc_auc": 0.875},
    "feature_importance": {"usage": 1.0},
    "features": ["usage"],
    "dropped_columns": {"id": "an identifier"},
    "rows_used": 600,
    "training_seconds": 0.5,
    "input_schema": {"usage": "number"},
    "output_schema": {"churned": "integer"},
    "report": None,
}


def _v1(type_name: str, data: dict[str, Any], model_name: str = "churn") -> bytes:
    """An envelope as version 1 of `type_name` wrote it (the fields loose)."""
    env = make_event(ModelDeleted(model_id="m1"), account_id="acme", model_name=model_name)
    raw = msgspec.json.decode(encode(env))
    raw.update(type=type_name, schema_version=1, data={"type": type_name, **data})
    return msgspec.json.encode(raw)


def _v2_training() -> TrainingRequest:
    return TrainingRequest(
        job_id="job_1",
        version=1,
        version_id="ver_1",
        upload_id="upl_1",
        dataset_format="csv",
        intent="Predict churn",
        target="churned",
        target_reason="the intent names it",
        output_fields=["churned"],
        options=TrainingOptions(
            metric="roc_auc", task="binary", max_iterations=8, time_budget_s=30.0
        ),
    )


def test_v1_training_requests_decode_with_their_options_nested() -> None:
    created = decode(
        _v1(
            "ModelCreated",
            {"model_id": "m1", "name": "churn", "intent": "x", "training": _V1_TRAINING},
        )
    )
    requested = decode(
        _v1("VersionRequested", {"model_id": "m1", "training": _V1_TRAINING, "reason": "retrain"})
    )
    assert created.schema_version == requested.schema_version == 2
    assert isinstance(created.data, ModelCreated) and isinstance(requested.data, VersionRequested)
    # v1 had no seed: those builds ran with the default one, which is what they decode to
    assert created.data.training == requested.data.training == _v2_training()
    assert created.data.training.options.seed == DEFAULT_SEED


def _v2_trained() -> VersionTrained:
    return VersionTrained(
        job_id="job_1",
        version=1,
        artifact="artifacts/acme/m1/v1",
        result=TrainingResult(
            task="binary",
            metric_name="roc_auc",
            metric_value=0.875,
            metrics={"roc_auc": 0.875},
            feature_importance={"usage": 1.0},
            features=["usage"],
            dropped_columns={"id": "an identifier"},
            rows_used=600,
            training_seconds=0.5,
            input_schema={"usage": "number"},
            output_schema={"churned": "integer"},
        ),
    )


def test_a_v1_version_trained_decodes_with_its_result_nested() -> None:
    env = decode(_v1("VersionTrained", _V1_TRAINED))
    assert env.schema_version == 2
    assert env.data == _v2_trained()


def test_v1_training_events_project_exactly_like_v2() -> None:
    """The read model a v1 log builds is the one the same events at v2 build."""
    v1_log = [
        _v1(
            "ModelCreated",
            {"model_id": "m1", "name": "churn", "intent": "x", "training": _V1_TRAINING},
        ),
        _v1("VersionTrained", _V1_TRAINED),
        _v1(
            "VersionRequested",
            {"model_id": "m1", "training": {**_V1_TRAINING, "version": 2, "job_id": "job_2"}},
        ),
    ]
    v2_data: list[EventData] = [
        ModelCreated(model_id="m1", name="churn", intent="x", training=_v2_training()),
        _v2_trained(),
        VersionRequested(
            model_id="m1",
            training=msgspec.structs.replace(_v2_training(), version=2, job_id="job_2"),
        ),
    ]
    tables: dict[str, Tables] = {}
    for name, envelopes in (
        ("v1", [decode(raw) for raw in v1_log]),
        (
            "v2",
            [
                msgspec.structs.replace(decode(raw), data=d)
                for raw, d in zip(v1_log, v2_data, strict=True)
            ],
        ),
    ):
        tables[name] = Tables()
        for offset, env in enumerate(envelopes):
            project(tables[name], env, 0, offset)
    for table in ("models", "versions", "build_logs"):
        assert getattr(tables["v1"], table) == getattr(tables["v2"], table), table
    versions = list(tables["v1"].versions.values())
    assert versions[0]["metric_name"] == "roc_auc" and versions[0]["max_iterations"] == 8


def test_a_v1_upload_decodes_with_unprofiled_columns_and_v2_keeps_its_profiles() -> None:
    from intentml.domain.profiles import ColumnProfile
    from intentml.events.types import Column, DatasetUploaded

    v1_data = {
        "upload_id": "u1",
        "filename": "d.csv",
        "format": "csv",
        "rows": 3,
        "columns": [{"name": "a", "type": "integer"}],
        "size_bytes": 10,
        "sha256": "s",
    }
    env = decode(_v1("DatasetUploaded", v1_data))
    assert env.schema_version == 2 == SCHEMA_VERSIONS["DatasetUploaded"]
    assert isinstance(env.data, DatasetUploaded)
    assert env.data.columns == [Column("a", "integer", None)]
    profile = ColumnProfile(distinct=3, missing=0, unique=True, rising=True, min=1.0, max=3.0)
    fields: dict[str, Any] = {**v1_data, "columns": [Column("a", "integer", profile)]}
    v2 = make_event(DatasetUploaded(**fields), account_id="acme")
    assert decode(encode(v2)) == v2
    tables = Tables()
    project(tables, env, 0, 0)
    assert tables.uploads["u1"]["columns"] == [{"name": "a", "type": "integer"}]
    project(tables, v2, 0, 1)
    assert tables.uploads["u1"]["columns"] == [
        {
            "name": "a",
            "type": "integer",
            "profile": {
                "distinct": 3,
                "distinct_exact": True,
                "missing": 0,
                "unique": True,
                "rising": True,
                "min": 1.0,
                "max": 3.0,
                "top": [],
            },
        }
    ]
