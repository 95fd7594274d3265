"""The API's read models (`projections.read_models`) against a real, migrated PostgreSQL.

The rows are the projection's own: events are projected (`projections.rows.project`)
and written as the projector writes them (`write_changes`), then each read function
must return its Struct with the values the events gave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest

from intentml.domain.fold import Ruling, StreamState
from intentml.domain.statuses import DeploymentStatus, ModelDeploymentStatus, VersionStatus
from intentml.domain.training_options import TrainingOptions
from intentml.domain.training_report import TrainingResult
from intentml.events.envelope import encode, make_event
from intentml.events.types import (
    ApiKeyIssued,
    ApiKeyRevoked,
    BuildStarted,
    Column,
    DatasetUploaded,
    DeploymentActivated,
    DeploymentRequested,
    EventData,
    ModelCreated,
    RateLimits,
    TrainingRequest,
    VersionReady,
    VersionRequested,
    VersionTrained,
)
from intentml.infra.db import create_pool, migrate
from projections import queries as q
from projections.projector import archive_row, write_changes
from projections.read_models import Queryable
from projections.read_models.audit import stream_events_page
from projections.read_models.build_logs import BuildLogRecord, build_logs_page
from projections.read_models.deployments import (
    DeploymentRecord,
    ServingDeploymentRecord,
    account_deployment,
    deployment_to_serve,
    live_deployments,
)
from projections.read_models.health import DatabaseState, database_state
from projections.read_models.keys import (
    ApiKeyRecord,
    LiveKeyRecord,
    account_key,
    account_keys,
    live_key_by_hash,
)
from projections.read_models.models import (
    ModelDetailRecord,
    ModelListingRecord,
    ModelRecord,
    model_by_name,
    model_detail,
    models_page,
)
from projections.read_models.uploads import UploadRecord, account_upload
from projections.read_models.versions import (
    VersionRecord,
    latest_version,
    version_by_id,
    version_by_number,
    versions_of_model,
)
from projections.rows import Tables, project

ACCOUNT = "acme"
OTHER = "other"
START = datetime(2026, 11, 1, tzinfo=UTC)
LIMITS = RateLimits(inference_per_minute=60)


def _training(job: str, version: int) -> TrainingRequest:
    return TrainingRequest(
        job_id=job,
        version=version,
        version_id=f"ver-{job}",
        upload_id="u1",
        dataset_format="csv",
        intent="Predict churn",
        target="churned",
        target_reason="the intent names it",
        options=TrainingOptions(metric="roc_auc", task="binary", max_iterations=8),
    )


def _events() -> list[tuple[str, EventData]]:
    """(model name, event) of one account's life: keys, an upload, a model with a READY
    v1 deployed and a PENDING v2."""
    trained = TrainingResult(
        task="binary",
        metric_name="roc_auc",
        metric_value=0.875,
        metrics={"roc_auc": 0.875},
        feature_importance={"usage": 1.0},
        features=["usage"],
        dropped_columns={"id": "an identifier"},
        rows_used=600,
        training_seconds=0.5,
        input_schema={"type": "object", "properties": {"usage": {"type": "number"}}},
        output_schema={"type": "object", "properties": {"churned": {"type": "integer"}}},
    )
    return [
        ("", ApiKeyIssued(key_id="k1", key_hash="hash-k1", scope="admin", name="ci")),
        ("", ApiKeyIssued(key_id="k2", key_hash="hash-k2", scope="read_only", rate_limits=LIMITS)),
        ("", ApiKeyRevoked(key_id="k1", revoked_by="k2")),
        (
            "",
            DatasetUploaded(
                upload_id="u1",
                filename="churn.csv",
                format="csv",
                rows=600,
                columns=[Column("usage", "number"), Column("churned", "integer")],
                size_bytes=20_000,
                sha256="ab" * 32,
            ),
        ),
        (
            "churn",
            ModelCreated(
                model_id="m1",
                name="Churn",
                intent="Predict churn",
                description="monthly churn",
                tags=["crm"],
                training=_training("j1", 1),
            ),
        ),
        ("churn", BuildStarted(job_id="j1", version=1, worker="trainer-1")),
        ("churn", VersionTrained(job_id="j1", version=1, artifact="a/j1.txt", result=trained)),
        ("churn", VersionReady(job_id="j1", version=1)),
        ("churn", VersionRequested(model_id="m1", training=_training("j2", 2))),
        ("churn", DeploymentRequested(model_id="m1", deployment_id="d1", version=1)),
        ("churn", DeploymentActivated(deployment_id="d1", version=1)),
    ]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A migrated database holding the rows `_events` project to, and the archive of
    the model's events (as accepted)."""
    pool = await create_pool(database_url, max_size=2)
    try:
        await migrate(pool)
        tables = Tables()
        archived = []
        for offset, (model_name, data) in enumerate(_events()):
            env = make_event(data, account_id=ACCOUNT, model_name=model_name, actor="k2")
            env = msgspec.structs.replace(env, occurred_at=START + timedelta(seconds=offset))
            project(tables, env, 0, offset)
            if model_name:
                accepted = Ruling(accepted=True, state=StreamState())
                archived.append(archive_row(0, offset, encode(env), env, accepted))
        async with pool.acquire() as conn, conn.transaction():
            await write_changes(conn, tables)
            await conn.executemany(q.ARCHIVE_EVENT, archived)
        yield pool
    finally:
        await pool.close()


async def test_models(db: Queryable) -> None:
    model = await model_by_name(db, ACCOUNT, "churn")
    assert type(model) is ModelRecord
    assert (model.model_id, model.name, model.tags, model.latest_version) == (
        "m1",
        "Churn",
        ["crm"],
        2,
    )
    assert model.created_at == START + timedelta(seconds=4) and model.deleted_at is None
    assert await model_by_name(db, OTHER, "churn") is None

    detail = await model_detail(db, ACCOUNT, "churn")
    assert type(detail) is ModelDetailRecord
    assert (detail.version, detail.status, detail.trained_version, detail.ready_version) == (
        2,
        VersionStatus.PENDING,
        1,
        1,
    )
    assert detail.metrics == {"roc_auc": 0.875} and detail.task == "binary"
    assert detail.deployment_status is ModelDeploymentStatus.DEPLOYED
    assert await model_detail(db, ACCOUNT, "nope") is None

    listed, total = await models_page(db, ACCOUNT, None, ("name", "asc"), 10, 0)
    assert total == 1 and [type(m) for m in listed] == [ModelListingRecord]
    assert listed[0].status is VersionStatus.PENDING and listed[0].metric_value is None
    assert await models_page(db, ACCOUNT, "READY", ("created_at", "desc"), 10, 0) == ([], 0)


async def test_versions(db: Queryable) -> None:
    v1 = await version_by_number(db, ACCOUNT, "churn", 1)
    assert type(v1) is VersionRecord
    assert (v1.status, v1.artifact, v1.metric_value, v1.features) == (
        VersionStatus.READY,
        "a/j1.txt",
        0.875,
        ["usage"],
    )
    assert (v1.name, v1.description, v1.tags, v1.model_created_by) == (
        "Churn",
        "monthly churn",
        ["crm"],
        "k2",
    )
    assert v1.deployment_status is ModelDeploymentStatus.DEPLOYED
    assert v1.requested_metric == "roc_auc" and v1.max_iterations == 8 and v1.build_attempts == 1
    assert await version_by_id(db, ACCOUNT, "churn", "ver-j1") == v1
    assert await latest_version(db, ACCOUNT, "churn") == v1  # the newest READY one
    assert await version_by_number(db, ACCOUNT, "churn", 3) is None
    assert await latest_version(db, OTHER, "churn") is None
    versions = await versions_of_model(db, ACCOUNT, "churn")
    assert [(v.version, v.status, v.deployment_status) for v in versions] == [
        (2, VersionStatus.PENDING, None),
        (1, VersionStatus.READY, ModelDeploymentStatus.DEPLOYED),
    ]


async def test_deployments(db: Queryable) -> None:
    deployment = await account_deployment(db, ACCOUNT, "d1")
    assert type(deployment) is DeploymentRecord
    assert (deployment.status, deployment.version, deployment.version_id) == (
        DeploymentStatus.ACTIVE,
        1,
        "ver-j1",
    )
    assert await account_deployment(db, OTHER, "d1") is None
    assert await live_deployments(db, "m1") == [deployment]
    serving = await deployment_to_serve(db, ACCOUNT, "d1")
    assert serving == ServingDeploymentRecord(
        deployment_id="d1",
        deployment_status=DeploymentStatus.ACTIVE,
        environment="production",
        model_id="m1",
        version=1,
        version_id="ver-j1",
        status=VersionStatus.READY,
        artifact="a/j1.txt",
        model_name="churn",
    )
    assert await deployment_to_serve(db, OTHER, "d1") is None


async def test_uploads_and_keys(db: Queryable) -> None:
    upload = await account_upload(db, ACCOUNT, "u1")
    assert type(upload) is UploadRecord
    assert upload.columns == [Column("usage", "number"), Column("churned", "integer")]
    assert (upload.format, upload.rows, upload.created_by) == ("csv", 600, "k2")
    assert await account_upload(db, OTHER, "u1") is None

    assert await live_key_by_hash(db, "hash-k1") is None  # revoked
    assert await live_key_by_hash(db, "hash-k2") == LiveKeyRecord(
        key_id="k2", account_id=ACCOUNT, scope="read_only", rate_limits=LIMITS
    )
    revoked = await account_key(db, ACCOUNT, "k1")
    assert type(revoked) is ApiKeyRecord
    assert revoked.revoked_by == "k2" and revoked.revoked_at is not None
    assert revoked.rate_limits is None
    keys = await account_keys(db, ACCOUNT)
    assert [k.key_id for k in keys] == ["k2", "k1"]  # newest first
    assert keys[0].rate_limits == LIMITS
    assert await account_keys(db, OTHER) == []


async def test_build_logs_audit_and_health(db: Queryable) -> None:
    lines, total = await build_logs_page(db, ACCOUNT, "j1", None, 2, 1)
    assert total > 2 and len(lines) == 2
    assert all(type(line) is BuildLogRecord and line.job_id == "j1" for line in lines)
    assert lines[0].logged_at <= lines[1].logged_at
    assert await build_logs_page(db, OTHER, None, None, 10, 0) == ([], 0)

    events, total = await stream_events_page(db, ACCOUNT, "churn", 2, 5)
    assert total == 7
    assert [(e.type, e.offset, e.accepted) for e in events] == [
        ("DeploymentRequested", 9, True),
        ("DeploymentActivated", 10, True),
    ]
    assert await stream_events_page(db, OTHER, "churn", 10, 0) == ([], 0)

    state = await database_state(db, "main")
    assert state == DatabaseState(projector_running=False, halts=[], quarantined=0)
