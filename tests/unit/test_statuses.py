"""The status enums: the fold stores them as the same text, and the SQL spells no other."""

from __future__ import annotations

import importlib
import pkgutil
import re
from enum import StrEnum

import pytest

import projections.read_models
from intentml.domain.fold import (
    DeploymentState,
    StreamState,
    VersionState,
    decode_state,
    encode_state,
)
from intentml.domain.statuses import (
    FINAL_VERSION_STATUSES,
    MODEL_DEPLOYMENT_STATUS_BY_PRECEDENCE,
    DeploymentStatus,
    KeyStatus,
    ModelDeploymentStatus,
    VersionStatus,
    sql_literal,
)
from projections import queries as q
from projections.read_models import deployments


def test_a_status_is_its_text() -> None:
    """Rows read back from PostgreSQL hold plain strings: they must compare equal."""
    assert VersionStatus.READY == "READY" and f"{VersionStatus.READY}" == "READY"
    assert "ACTIVE" in {DeploymentStatus.ACTIVE} and KeyStatus.REVOKED == "revoked"
    assert {"READY", "ERROR", "CANCELLED"} == FINAL_VERSION_STATUSES


def test_the_fold_state_stores_statuses_as_their_text() -> None:
    """States stored before the enums decode to them, and encode to the same bytes (with
    the fields added since, at their defaults: `cancel_requested`)."""
    old = (
        b'{"model_id":"m1","versions":{"1":{"job_id":"j1","status":"READY","trained":true,'
        b'"starts":[]}},"deployments":{"d1":{"environment":"production","version":1,'
        b'"status":"ACTIVE"}},"key_hashes":[],"upload_ids":[],"account_created":false,'
        b'"revoked_keys":[],"head":null}'
    )
    state = decode_state(old)
    assert state.versions[1].status is VersionStatus.READY
    assert state.deployments["d1"].status is DeploymentStatus.ACTIVE
    now = old.replace(b'"starts":[]}', b'"starts":[],"cancel_requested":false}')
    assert encode_state(state) == now
    fresh = StreamState(
        model_id="m1",
        versions={1: VersionState(job_id="j1", status=VersionStatus.READY, trained=True)},
        deployments={"d1": DeploymentState("production", 1, DeploymentStatus.ACTIVE)},
    )
    assert encode_state(fresh) == now


def test_sql_literal_quotes_a_status_and_refuses_anything_but_a_word() -> None:
    assert sql_literal(VersionStatus.READY) == "'READY'"

    class Odd(StrEnum):
        QUOTE = "it's"

    with pytest.raises(ValueError):
        sql_literal(Odd.QUOTE)


def _sql_texts() -> list[str]:
    texts: list[str] = []
    # the projection's SQL and every read model's
    read_models = projections.read_models
    modules = [q] + [
        importlib.import_module(f"{read_models.__name__}.{m.name}")
        for m in pkgutil.iter_modules(read_models.__path__)
    ]
    for value in (v for module in modules for v in vars(module).values()):
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            texts.extend(v for v in value.values() if isinstance(v, str))
    return texts


def test_the_sql_spells_only_statuses_of_the_enums() -> None:
    """Every upper-case string literal in the projection's SQL is a member's value."""
    known = {s.value for e in (VersionStatus, DeploymentStatus, ModelDeploymentStatus) for s in e}
    literals = {m for sql in _sql_texts() for m in re.findall(r"'([A-Z_]+)'", sql)}
    assert literals, "the SQL filters on statuses"
    assert literals <= known


def test_a_models_deployment_status_follows_its_live_deployments_by_precedence() -> None:
    assert [live for live, _ in MODEL_DEPLOYMENT_STATUS_BY_PRECEDENCE] == [
        DeploymentStatus.ACTIVE,
        DeploymentStatus.DEPLOYING,
        DeploymentStatus.UNDEPLOYING,
    ]
    case = deployments.MODEL_DEPLOYMENT_STATUS
    positions = [case.index(f"THEN '{s}'") for _, s in MODEL_DEPLOYMENT_STATUS_BY_PRECEDENCE]
    assert positions == sorted(positions)
    assert "WHEN bool_or(d.status = 'ACTIVE') THEN 'DEPLOYED'" in case
