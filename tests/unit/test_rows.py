"""What each accepted event writes into the read models (`projections.rows`), in memory.

The module guarantees, with the semantics the SQL statements it replaced had:

- every row `project` makes holds exactly its table's `queries.COLUMNS`, in that order
  (rows are written as `tuple(row.values())`), and build logs are tuples in that order;
- each event type inserts or updates the rows it names, and an update whose row is not
  there changes nothing (an `UPDATE ... WHERE` that matches no row);
- deleting a model ends its live deployments and frees its name; activating a deployment
  replaces the ACTIVE one of the same model and environment;
- any event of a model's stream, but its creation and deletion, touches the live model;
- `Tables.changed` lists the keys of inserted or updated rows in order of first change,
  `Wanted` names the stored rows a batch needs, and rows loaded into a `Tables` are
  updated exactly as rows made in it: what the live projector relies on.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from intentml.domain.statuses import DeploymentStatus, VersionStatus
from intentml.domain.training_options import TrainingOptions
from intentml.domain.training_report import TrainingResult
from intentml.events.envelope import Envelope, make_event
from intentml.events.types import (
    AccountCreated,
    ApiKeyIssued,
    ApiKeyLimitsChanged,
    ApiKeyRevoked,
    BuildFailed,
    BuildProgressed,
    BuildStarted,
    Column,
    DatasetUploaded,
    DeploymentActivated,
    DeploymentFailed,
    DeploymentRequested,
    DeploymentStopped,
    EventData,
    ModelCreated,
    ModelDeleted,
    ModelUpdated,
    RateLimits,
    TrainingRequest,
    UndeployRequested,
    VersionReady,
    VersionRequested,
    VersionTrained,
)
from projections.queries import COLUMNS, PRIMARY_KEYS
from projections.rows import Row, Tables, Wanted, project

ACCOUNT = "acme"
MODEL = "churn"
ACTOR = "key_1"
START = datetime(2026, 11, 1, tzinfo=UTC)
#: The tables whose rows are upserted, in writing order (build logs are insert-only).
ROW_TABLES = ("accounts", "api_keys", "uploads", "models", "versions", "deployments")


# --- helpers -----------------------------------------------------------------


class Log:
    """Projects events into `tables` as the log delivers them: each at the next offset of
    one partition, each a second after the previous one."""

    def __init__(self, tables: Tables | None = None, partition: int = 3) -> None:
        self.tables = Tables() if tables is None else tables
        self.partition = partition
        self.offset = 100

    def apply(self, data: EventData, *, model: str = MODEL, account: str = ACCOUNT) -> Envelope:
        """Project `data` and return its envelope (for its `occurred_at`)."""
        env = make_event(data, account_id=account, model_name=model, actor=ACTOR)
        env = msgspec.structs.replace(env, occurred_at=START + timedelta(seconds=self.offset))
        project(self.tables, env, self.partition, self.offset)
        self.offset += 1
        return env

    def account(self, data: EventData, account: str = ACCOUNT) -> Envelope:
        """Project an account event (no model stream)."""
        return self.apply(data, model="", account=account)


def training(
    job: str = "j1",
    version: int = 1,
    upload: str = "u1",
    intent: str = "Predict churn",
) -> TrainingRequest:
    return TrainingRequest(
        job_id=job,
        version=version,
        version_id=f"ver-{job}",
        upload_id=upload,
        dataset_format="csv",
        intent=intent,
        target="churned",
        target_reason="the intent names it",
        options=TrainingOptions(
            metric="roc_auc", task="binary", max_iterations=8, time_budget_s=30.0
        ),
    )


def created(model_id: str = "m1", job: str = "j1", name: str = "Churn") -> ModelCreated:
    return ModelCreated(
        model_id=model_id,
        name=name,
        intent="Predict churn",
        description="monthly churn",
        tags=["churn"],
        input_schema={"usage": "number"},
        output_schema={"churned": "integer"},
        training=training(job),
    )


def trained(job: str = "j1", version: int = 1) -> VersionTrained:
    return VersionTrained(
        job_id=job,
        version=version,
        artifact=f"artifacts/{job}.txt",
        result=TrainingResult(
            task="binary",
            metric_name="roc_auc",
            metric_value=0.875,
            metrics={"roc_auc": 0.875, "accuracy": 0.8},
            feature_importance={"usage": 1.0},
            features=["usage"],
            dropped_columns={"id": "an identifier"},
            rows_used=600,
            training_seconds=0.5,
            input_schema={"usage": "number"},
            output_schema={"churned": "integer"},
        ),
    )


def deploy(deployment: str, model_id: str = "m1", environment: str = "production") -> EventData:
    return DeploymentRequested(
        model_id=model_id, deployment_id=deployment, version=1, environment=environment
    )


def issued(key_id: str = "k1", limits: RateLimits | None = None) -> ApiKeyIssued:
    return ApiKeyIssued(
        key_id=key_id,
        key_hash=f"hash-{key_id}",
        scope="admin",
        name="ci",
        issued_by="key_admin",
        rate_limits=limits,
    )


def logs(tables: Tables) -> list[dict[str, Any]]:
    """The build-log tuples as dicts, by `COLUMNS["build_logs"]` (strict: equal lengths)."""
    return [dict(zip(COLUMNS["build_logs"], line, strict=True)) for line in tables.build_logs]


def forget_changes(tables: Tables) -> None:
    """Start recording changes afresh (as the live projector does for each batch)."""
    for keys in tables.changed.values():
        keys.clear()


def changed(tables: Tables) -> dict[str, list[Any]]:
    return {table: list(keys) for table, keys in tables.changed.items()}


def rows_of(tables: Tables, table: str) -> dict[Any, Row]:
    rows: dict[Any, Row] = getattr(tables, table)
    return rows


def key_of(table: str, row: Row) -> Any:
    """A row's primary key as `Tables` keys it: the value, or a tuple of several."""
    key = tuple(row[c] for c in PRIMARY_KEYS[table])
    return key[0] if len(key) == 1 else key


def whole_life(log: Log) -> None:
    """Events that write every table, inserting rows and updating them."""
    log.account(AccountCreated(created_by="intentml-cli"))
    log.account(issued("k1", RateLimits(inference_per_minute=60)))
    log.account(ApiKeyLimitsChanged(key_id="k1", rate_limits=RateLimits(management_per_minute=5)))
    log.account(ApiKeyRevoked(key_id="k1", revoked_by="key_admin"))
    log.account(
        DatasetUploaded(
            upload_id="u1",
            filename="churn.csv",
            format="csv",
            rows=600,
            columns=[Column("usage", "number"), Column("churned", "integer")],
            size_bytes=20_000,
            sha256="ab" * 32,
        )
    )
    log.apply(created())
    log.apply(BuildStarted(job_id="j1", version=1, worker="trainer-1"))
    log.apply(BuildProgressed(job_id="j1", version=1, progress=50, lines=["candidate 1"]))
    log.apply(trained())
    log.apply(VersionReady(job_id="j1", version=1, sample_output={"churned": 1}))
    log.apply(VersionRequested(model_id="m1", training=training("j2", 2), reason="new_version"))
    log.apply(BuildFailed(job_id="j2", version=2, code="training_failed", message="no signal"))
    log.apply(ModelUpdated(model_id="m1", description="weekly churn"))
    log.apply(deploy("d1"))
    log.apply(DeploymentActivated(deployment_id="d1", version=1))
    log.apply(deploy("d2"))
    log.apply(DeploymentActivated(deployment_id="d2", version=1))
    log.apply(UndeployRequested(deployment_id="d2"))
    log.apply(DeploymentStopped(deployment_id="d2"))
    log.apply(deploy("d3", environment="staging"))
    log.apply(DeploymentFailed(deployment_id="d3", message="no capacity"))
    log.apply(deploy("d4", environment="staging"))
    log.apply(ModelDeleted(model_id="m1"))
    log.apply(created("m2", "j3"))


# --- 1. columns --------------------------------------------------------------


def test_every_row_holds_its_tables_columns_in_order() -> None:
    log = Log()
    whole_life(log)
    assert tuple(log.tables.changed) == ROW_TABLES == tuple(PRIMARY_KEYS)
    for table in ROW_TABLES:
        rows = rows_of(log.tables, table)
        assert rows, f"the scenario writes no {table} row"
        for key, row in rows.items():
            assert tuple(row) == COLUMNS[table], (table, key)
            assert len(tuple(row.values())) == len(COLUMNS[table])
            assert key == key_of(table, row)


def test_build_log_lines_are_tuples_in_column_order() -> None:
    log = Log()
    whole_life(log)
    assert len(log.tables.build_logs) > 10
    for line in log.tables.build_logs:
        assert isinstance(line, tuple)
        assert len(line) == len(COLUMNS["build_logs"])
    failed = [line for line in logs(log.tables) if line["level"] == "ERROR"]
    assert len(failed) == 1
    assert failed[0]["job_id"] == "j2"
    assert failed[0]["version"] == 2
    assert failed[0]["message"] == "build failed (training_failed): no signal"


# --- 2, 3. models and their versions ----------------------------------------


def test_model_created_inserts_the_model_its_pending_version_and_two_log_lines() -> None:
    log = Log()
    env = log.apply(created())
    t = log.tables
    assert t.models["m1"] == {
        "model_id": "m1",
        "account_id": ACCOUNT,
        "model_name": MODEL,
        "name": "Churn",
        "intent": "Predict churn",
        "description": "monthly churn",
        "tags": ["churn"],
        "dataset_id": "u1",
        "input_schema": {"usage": "number"},
        "output_schema": {"churned": "integer"},
        "latest_version": 1,
        "created_by": ACTOR,
        "created_at": env.occurred_at,
        "updated_at": env.occurred_at,
        "deleted_at": None,
    }
    assert t.live_model(ACCOUNT, MODEL) is t.models["m1"]
    version = t.versions[("m1", 1)]
    assert version["status"] == VersionStatus.PENDING
    assert version["build_progress"] == 0
    assert version["source"] == "create"
    assert (version["job_id"], version["version_id"], version["upload_id"]) == (
        "j1",
        "ver-j1",
        "u1",
    )
    assert (version["requested_metric"], version["task"]) == ("roc_auc", "binary")
    assert (version["max_iterations"], version["time_budget_s"]) == (8, 30.0)
    assert version["created_by"] == ACTOR
    assert version["created_at"] == version["updated_at"] == env.occurred_at
    assert version["metric_value"] is None
    assert version["artifact"] is None
    assert t.version_of_job("j1", 1) is version
    assert [(line["partition"], line["offset"], line["line"]) for line in logs(t)] == [
        (log.partition, 100, 0),
        (log.partition, 100, 1),
    ]
    first, second = logs(t)
    assert first["job_id"] == "j1"
    assert (first["account_id"], first["model_name"], first["version"]) == (ACCOUNT, MODEL, 1)
    assert first["logged_at"] == env.occurred_at
    assert first["level"] == "INFO"
    assert first["message"] == "build requested for churn v1 on dataset u1: 'Predict churn'"
    assert second["message"] == "target: churned (the intent names it)"


def test_version_requested_inserts_the_version_and_moves_the_model_on() -> None:
    log = Log()
    log.apply(created())
    three = training("j3", 3, upload="u3", intent="Predict churn from usage")
    env3 = log.apply(VersionRequested(model_id="m1", training=three, reason="new_version"))
    t = log.tables
    version = t.versions[("m1", 3)]
    assert version["source"] == "new_version"
    assert version["status"] == VersionStatus.PENDING
    assert version["build_progress"] == 0
    assert version["created_at"] == env3.occurred_at
    model = t.models["m1"]
    assert model["latest_version"] == 3
    assert model["intent"] == "Predict churn from usage"
    assert model["dataset_id"] == "u3"
    assert model["updated_at"] == env3.occurred_at
    assert model["created_at"] < env3.occurred_at
    lines = [line for line in logs(t) if line["version"] == 3]
    assert [line["line"] for line in lines] == [0, 1]
    assert lines[0]["message"].startswith("new version requested for churn v3 on dataset u3")

    # An older version number requested later: the latest version stays the highest.
    two = training("j2", 2, upload="u2", intent="Predict churn again")
    env2 = log.apply(VersionRequested(model_id="m1", training=two, reason="retrain"))
    assert t.versions[("m1", 2)]["source"] == "retrain"
    assert model["latest_version"] == 3
    assert model["intent"] == "Predict churn again"
    assert model["dataset_id"] == "u2"
    assert model["updated_at"] == env2.occurred_at
    assert logs(t)[-2]["message"].startswith("retrain requested for churn v2")


# --- 4. builds ---------------------------------------------------------------


def test_a_build_goes_from_pending_to_ready_and_its_progress_never_decreases() -> None:
    log = Log()
    log.apply(created())
    version = log.tables.versions[("m1", 1)]

    started = log.apply(BuildStarted(job_id="j1", version=1, worker="trainer-1"))
    assert (version["status"], version["build_progress"]) == (VersionStatus.BUILDING, 1)
    assert version["updated_at"] == started.occurred_at

    log.apply(BuildProgressed(job_id="j1", version=1, progress=40, lines=["a", "b"]))
    assert version["build_progress"] == 40
    lower = log.apply(BuildProgressed(job_id="j1", version=1, progress=20))
    assert (version["status"], version["build_progress"]) == (VersionStatus.BUILDING, 40)
    assert version["updated_at"] == lower.occurred_at

    done = log.apply(trained())
    assert (version["status"], version["build_progress"]) == (VersionStatus.BUILDING, 95)
    assert version["metric_name"] == "roc_auc"
    assert version["metric_value"] == 0.875
    assert version["metrics"] == {"roc_auc": 0.875, "accuracy": 0.8}
    assert version["feature_importance"] == {"usage": 1.0}
    assert version["features"] == ["usage"]
    assert version["dropped_columns"] == {"id": "an identifier"}
    assert (version["rows_used"], version["training_seconds"]) == (600, 0.5)
    assert version["artifact"] == "artifacts/j1.txt"
    assert version["input_schema"] == {"usage": "number"}
    assert version["output_schema"] == {"churned": "integer"}
    assert version["updated_at"] == done.occurred_at

    ready = log.apply(VersionReady(job_id="j1", version=1, sample_output={"churned": 1}))
    assert (version["status"], version["build_progress"]) == (VersionStatus.READY, 100)
    assert version["updated_at"] == ready.occurred_at
    messages = [line["message"] for line in logs(log.tables)]
    assert messages[2:5] == ["build started on trainer-1", "a", "b"]
    assert messages[-1] == "v1 is READY"


def test_a_restarted_build_shows_its_attempt_and_starts_its_progress_over() -> None:
    log = Log()
    log.apply(created())
    version = log.tables.versions[("m1", 1)]
    assert version["build_attempts"] == 0
    log.apply(BuildStarted(job_id="j1", version=1, worker="trainer-1"))
    assert (version["build_attempts"], version["build_progress"]) == (1, 1)
    log.apply(BuildProgressed(job_id="j1", version=1, progress=60, lines=["candidate 6/10"]))

    # trainer-1 was killed; the request, redelivered, starts the build again (the fold
    # lets only a new start through, never the same one twice).
    again = log.apply(BuildStarted(job_id="j1", version=1, worker="trainer-2"))
    assert (version["status"], version["build_progress"]) == (VersionStatus.BUILDING, 1)
    assert version["build_attempts"] == 2
    assert version["updated_at"] == again.occurred_at
    assert logs(log.tables)[-1]["message"] == (
        "build restarted (attempt 2) on trainer-2: the previous worker was lost before it "
        "finished; progress starts over"
    )
    log.apply(BuildProgressed(job_id="j1", version=1, progress=20))
    assert version["build_progress"] == 20
    log.apply(BuildStarted(job_id="j1", version=1))
    assert (version["build_attempts"], version["build_progress"]) == (3, 1)
    assert "build restarted (attempt 3) on a trainer" in logs(log.tables)[-1]["message"]
    log.apply(trained())
    log.apply(VersionReady(job_id="j1", version=1, sample_output={"churned": 1}))
    assert (version["status"], version["build_progress"], version["build_attempts"]) == (
        VersionStatus.READY,
        100,
        3,
    )


def test_a_build_started_before_attempts_were_counted_restarts_as_attempt_two() -> None:
    log = Log()
    log.apply(created())
    row = log.tables.versions[("m1", 1)]
    # A stored row of a build that ran when the column came in (migration 009): 0 attempts.
    row.update(status=VersionStatus.BUILDING, build_progress=70, build_attempts=0)
    log.apply(BuildStarted(job_id="j1", version=1, worker="trainer-2"))
    assert (row["build_attempts"], row["build_progress"]) == (2, 1)
    assert logs(log.tables)[-1]["message"].startswith("build restarted (attempt 2)")


def test_training_keeps_a_progress_above_95() -> None:
    log = Log()
    log.apply(created())
    log.apply(BuildProgressed(job_id="j1", version=1, progress=97))
    log.apply(trained())
    assert log.tables.versions[("m1", 1)]["build_progress"] == 97


def test_a_failed_build_is_in_error_with_its_reason() -> None:
    log = Log()
    log.apply(created())
    log.apply(BuildStarted(job_id="j1", version=1))
    env = log.apply(BuildFailed(job_id="j1", version=1, code="no_signal", message="nothing"))
    version = log.tables.versions[("m1", 1)]
    assert version["status"] == VersionStatus.ERROR
    assert (version["error_code"], version["error_message"]) == ("no_signal", "nothing")
    assert version["updated_at"] == env.occurred_at
    assert logs(log.tables)[-1]["level"] == "ERROR"


def test_build_events_of_a_missing_version_change_no_version_but_are_logged() -> None:
    log = Log()
    log.apply(created())
    before = copy.deepcopy(log.tables.versions)
    forget_changes(log.tables)
    n_logs = len(log.tables.build_logs)
    log.apply(BuildStarted(job_id="ghost", version=1))
    log.apply(BuildProgressed(job_id="ghost", version=1, progress=50, lines=["x", "y"]))
    log.apply(BuildProgressed(job_id="j1", version=2, progress=50))  # j1 makes v1, not v2
    log.apply(trained("ghost"))
    log.apply(VersionReady(job_id="ghost", version=1))
    log.apply(BuildFailed(job_id="j1", version=9, code="c", message="m"))
    assert log.tables.versions == before
    assert log.tables.changed["versions"] == {}
    added = logs(log.tables)[n_logs:]
    assert [line["job_id"] for line in added] == ["ghost"] * 6 + ["j1"]
    assert [line["offset"] for line in added] == [101, 102, 102, 104, 105, 105, 106]


# --- 5, 6. updating and deleting models ---------------------------------------


def test_model_updated_keeps_the_fields_it_leaves_out() -> None:
    log = Log()
    log.apply(created())
    model = log.tables.models["m1"]
    renamed = log.apply(ModelUpdated(model_id="m1", name="Churn v2"))
    assert (model["name"], model["description"], model["tags"]) == (
        "Churn v2",
        "monthly churn",
        ["churn"],
    )
    assert model["updated_at"] == renamed.occurred_at
    retagged = log.apply(ModelUpdated(model_id="m1", description="weekly churn", tags=[]))
    assert (model["name"], model["description"], model["tags"]) == (
        "Churn v2",
        "weekly churn",
        [],
    )
    assert model["updated_at"] == retagged.occurred_at


def test_model_deleted_ends_its_live_deployments_and_frees_its_name() -> None:
    log = Log()
    log.apply(created())
    log.apply(deploy("d1"))
    log.apply(DeploymentActivated(deployment_id="d1", version=1))
    log.apply(deploy("d2", environment="staging"))  # still DEPLOYING
    log.apply(deploy("d3"))
    failed = log.apply(DeploymentFailed(deployment_id="d3", message="no capacity"))
    t = log.tables

    gone = log.apply(ModelDeleted(model_id="m1"))
    old = t.models["m1"]
    assert old["deleted_at"] == old["updated_at"] == gone.occurred_at
    for deployment in ("d1", "d2"):
        row = t.deployments[deployment]
        assert row["status"] == DeploymentStatus.DELETED
        assert row["ended_at"] == row["updated_at"] == gone.occurred_at
    assert t.deployments["d3"]["status"] == DeploymentStatus.FAILED
    assert t.deployments["d3"]["ended_at"] == failed.occurred_at
    assert t.live_deployments("m1") == []
    assert t.live_model(ACCOUNT, MODEL) is None

    log.apply(created("m2", "j2", name="Churn again"))
    new = t.live_model(ACCOUNT, MODEL)
    assert new is not None
    assert new["model_id"] == "m2"
    assert new["deleted_at"] is None

    later = log.apply(BuildStarted(job_id="j2", version=1))
    assert new["updated_at"] == later.occurred_at
    assert old["updated_at"] == gone.occurred_at
    assert old["deleted_at"] == gone.occurred_at


# --- 7. deployments ----------------------------------------------------------


def test_deployments_through_their_life() -> None:
    log = Log()
    log.apply(created())
    log.apply(created("m9", "j9"), model="fraud")
    t = log.tables

    requested = log.apply(deploy("d1"))
    d1 = t.deployments["d1"]
    assert d1["status"] == DeploymentStatus.DEPLOYING
    assert d1["created_at"] == d1["updated_at"] == requested.occurred_at
    assert (d1["activated_at"], d1["ended_at"], d1["error_message"]) == (None, None, None)
    assert (d1["model_id"], d1["version"], d1["environment"]) == ("m1", 1, "production")
    assert (d1["replicas"], d1["auto_scale"], d1["created_by"]) == (1, True, ACTOR)

    first = log.apply(DeploymentActivated(deployment_id="d1", version=1))
    assert (d1["status"], d1["activated_at"], d1["ended_at"]) == (
        DeploymentStatus.ACTIVE,
        first.occurred_at,
        None,
    )

    log.apply(deploy("d2", environment="staging"))
    log.apply(DeploymentActivated(deployment_id="d2", version=1))
    log.apply(deploy("dx", model_id="m9"), model="fraud")
    log.apply(DeploymentActivated(deployment_id="dx", version=1), model="fraud")
    log.apply(deploy("d4"))  # requested, not yet active: not replaced
    log.apply(deploy("d3"))
    second = log.apply(DeploymentActivated(deployment_id="d3", version=1))

    d3 = t.deployments["d3"]
    assert (d3["status"], d3["activated_at"], d3["ended_at"]) == (
        DeploymentStatus.ACTIVE,
        second.occurred_at,
        None,
    )
    assert d1["status"] == DeploymentStatus.REPLACED
    assert d1["ended_at"] == d1["updated_at"] == second.occurred_at
    assert d1["activated_at"] == first.occurred_at
    assert (t.deployments["d2"]["status"], t.deployments["d2"]["ended_at"]) == (
        DeploymentStatus.ACTIVE,
        None,
    )
    assert (t.deployments["dx"]["status"], t.deployments["dx"]["ended_at"]) == (
        DeploymentStatus.ACTIVE,
        None,
    )
    assert (t.deployments["d4"]["status"], t.deployments["d4"]["ended_at"]) == (
        DeploymentStatus.DEPLOYING,
        None,
    )

    undeploy = log.apply(UndeployRequested(deployment_id="d3"))
    assert (d3["status"], d3["ended_at"], d3["updated_at"]) == (
        DeploymentStatus.UNDEPLOYING,
        None,
        undeploy.occurred_at,
    )
    stopped = log.apply(DeploymentStopped(deployment_id="d3"))
    assert d3["status"] == DeploymentStatus.STOPPED
    assert d3["ended_at"] == d3["updated_at"] == stopped.occurred_at

    failed = log.apply(DeploymentFailed(deployment_id="d4", message="no capacity"))
    d4 = t.deployments["d4"]
    assert (d4["status"], d4["error_message"]) == (DeploymentStatus.FAILED, "no capacity")
    assert d4["ended_at"] == d4["updated_at"] == failed.occurred_at
    assert [row["deployment_id"] for row in t.live_deployments("m1")] == ["d2"]


def test_events_about_a_missing_deployment_change_nothing() -> None:
    log = Log()
    log.apply(created())
    log.apply(deploy("d1"))
    log.apply(DeploymentActivated(deployment_id="d1", version=1))
    before = copy.deepcopy(log.tables.deployments)
    forget_changes(log.tables)
    log.apply(DeploymentActivated(deployment_id="ghost", version=1))
    log.apply(UndeployRequested(deployment_id="ghost"))
    log.apply(DeploymentStopped(deployment_id="ghost"))
    log.apply(DeploymentFailed(deployment_id="ghost", message="m"))
    assert log.tables.deployments == before
    assert log.tables.changed["deployments"] == {}


# --- 8. touching the live model ----------------------------------------------

TOUCHING: list[EventData] = [
    VersionRequested(model_id="m1", training=training("j2", 2)),
    ModelUpdated(model_id="m1", description="weekly"),
    DeploymentRequested(model_id="m1", deployment_id="d2", version=1),
    DeploymentActivated(deployment_id="d1", version=1),
    UndeployRequested(deployment_id="d1"),
    DeploymentStopped(deployment_id="d1"),
    DeploymentFailed(deployment_id="d1", message="m"),
    BuildStarted(job_id="j1", version=1),
    BuildProgressed(job_id="j1", version=1, progress=10),
    trained(),
    VersionReady(job_id="j1", version=1),
    BuildFailed(job_id="j1", version=1, code="c", message="m"),
    BuildStarted(job_id="ghost", version=1),  # no version: the stream is still touched
]


@pytest.mark.parametrize("data", TOUCHING, ids=lambda d: type(d).__name__)
def test_an_event_of_a_models_stream_touches_its_live_model(data: EventData) -> None:
    log = Log()
    log.apply(created())
    log.apply(deploy("d1"))
    forget_changes(log.tables)
    env = log.apply(data)
    assert log.tables.models["m1"]["updated_at"] == env.occurred_at
    assert list(log.tables.changed["models"]) == ["m1"]


def test_events_of_other_streams_and_of_accounts_do_not_touch_a_model() -> None:
    log = Log()
    made = log.apply(created())
    log.apply(created("m9", "j9"), model="fraud")
    log.apply(created("m8", "j8"), account="other")
    forget_changes(log.tables)
    log.apply(BuildStarted(job_id="j9", version=1), model="fraud")
    log.apply(BuildStarted(job_id="j8", version=1), account="other")
    log.account(issued())
    assert log.tables.models["m1"]["updated_at"] == made.occurred_at
    assert list(log.tables.changed["models"]) == ["m9", "m8"]


# --- 9. API keys and account rows ----------------------------------------------


def test_account_and_upload_rows() -> None:
    log = Log()
    made = log.account(AccountCreated(created_by="intentml-cli"))
    up = log.account(
        DatasetUploaded(
            upload_id="u1",
            filename="churn.csv",
            format="csv",
            rows=600,
            columns=[Column("usage", "number")],
            size_bytes=20_000,
            sha256="ab" * 32,
        )
    )
    t = log.tables
    assert t.accounts[ACCOUNT] == {
        "account_id": ACCOUNT,
        "created_by": "intentml-cli",
        "created_at": made.occurred_at,
    }
    upload = t.uploads["u1"]
    assert upload["columns"] == [{"name": "usage", "type": "number"}]
    assert (upload["account_id"], upload["created_by"]) == (ACCOUNT, ACTOR)
    assert upload["created_at"] == up.occurred_at
    assert (upload["rows"], upload["size_bytes"], upload["format"]) == (600, 20_000, "csv")


def test_api_key_issued_revoked_once_and_limited_within_its_account() -> None:
    log = Log()
    env = log.account(issued("k1", RateLimits(inference_per_minute=60)))
    key = log.tables.api_keys["k1"]
    assert key == {
        "key_id": "k1",
        "account_id": ACCOUNT,
        "key_hash": "hash-k1",
        "scope": "admin",
        "name": "ci",
        "created_at": env.occurred_at,
        "revoked_at": None,
        "created_by": "key_admin",
        "revoked_by": None,
        "rate_limits": {"management_per_minute": None, "inference_per_minute": 60},
    }
    assert type(key["rate_limits"]) is dict

    forget_changes(log.tables)
    log.account(ApiKeyRevoked(key_id="k1", revoked_by="intruder"), account="other")
    log.account(ApiKeyLimitsChanged(key_id="k1", rate_limits=None), account="other")
    assert (key["revoked_at"], key["revoked_by"]) == (None, None)
    assert key["rate_limits"] == {"management_per_minute": None, "inference_per_minute": 60}
    assert log.tables.changed["api_keys"] == {}

    revoked = log.account(ApiKeyRevoked(key_id="k1", revoked_by="key_admin"))
    log.account(ApiKeyRevoked(key_id="k1", revoked_by="key_other"))
    assert (key["revoked_at"], key["revoked_by"]) == (revoked.occurred_at, "key_admin")

    log.account(ApiKeyLimitsChanged(key_id="k1", rate_limits=RateLimits(management_per_minute=5)))
    assert key["rate_limits"] == {"management_per_minute": 5, "inference_per_minute": None}
    assert type(key["rate_limits"]) is dict
    log.account(ApiKeyLimitsChanged(key_id="k1", rate_limits=None))
    assert key["rate_limits"] is None


def test_a_key_issued_without_limits_has_none() -> None:
    log = Log()
    log.account(issued("k2"))
    assert log.tables.api_keys["k2"]["rate_limits"] is None


# --- 10. change tracking and the rows a batch wants ----------------------------


def changing_events(log: Log) -> None:
    log.account(AccountCreated())
    log.account(
        DatasetUploaded(
            upload_id="u1", filename="f", format="csv", rows=1, columns=[], size_bytes=1, sha256=""
        )
    )
    log.apply(created())
    log.apply(deploy("d1"))
    log.account(issued("k1"))
    log.apply(VersionRequested(model_id="m1", training=training("j2", 2)))
    log.account(ApiKeyRevoked(key_id="unknown"))  # changes nothing
    log.apply(created("m2", "j5"), model="fraud")
    log.apply(BuildStarted(job_id="j1", version=1))  # v1 again, m1 again
    log.apply(ModelUpdated(model_id="m1", tags=["x"]))
    log.apply(deploy("d0"))
    log.account(issued("k0"))


def test_changes_are_the_keys_written_in_order_of_first_change() -> None:
    log = Log()
    changing_events(log)
    assert changed(log.tables) == {
        "accounts": [ACCOUNT],
        "api_keys": ["k1", "k0"],
        "uploads": ["u1"],
        "models": ["m1", "m2"],
        "versions": [("m1", 1), ("m1", 2), ("m2", 1)],
        "deployments": ["d1", "d0"],
    }


def test_a_table_that_does_not_track_changes_records_none() -> None:
    log = Log(Tables(track_changes=False))
    changing_events(log)
    assert changed(log.tables) == {table: [] for table in ROW_TABLES}
    assert set(log.tables.models) == {"m1", "m2"}
    assert log.tables.versions[("m1", 1)]["status"] == VersionStatus.BUILDING


def test_wanted_names_the_rows_events_need() -> None:
    events: list[tuple[EventData, str, str]] = [
        (AccountCreated(), ACCOUNT, ""),
        (issued("k0"), ACCOUNT, ""),
        (ApiKeyRevoked(key_id="k1"), ACCOUNT, ""),
        (ApiKeyLimitsChanged(key_id="k2"), "other", ""),
        (created("m0"), ACCOUNT, MODEL),
        (VersionRequested(model_id="m1", training=training("j0", 2)), ACCOUNT, MODEL),
        (ModelUpdated(model_id="m2"), ACCOUNT, MODEL),
        (ModelDeleted(model_id="m3"), ACCOUNT, "fraud"),
        (deploy("d0", model_id="m4"), "other", MODEL),
        (BuildStarted(job_id="j1", version=1), ACCOUNT, MODEL),
        (BuildProgressed(job_id="j2", version=1, progress=1), ACCOUNT, MODEL),
        (trained("j3"), ACCOUNT, MODEL),
        (VersionReady(job_id="j4", version=1), ACCOUNT, MODEL),
        (BuildFailed(job_id="j5", version=1, code="c", message="m"), ACCOUNT, MODEL),
        (DeploymentActivated(deployment_id="d1", version=1), ACCOUNT, MODEL),
        (DeploymentFailed(deployment_id="d2", message="m"), ACCOUNT, MODEL),
        (UndeployRequested(deployment_id="d3"), ACCOUNT, MODEL),
        (DeploymentStopped(deployment_id="d4"), ACCOUNT, MODEL),
    ]
    wanted = Wanted()
    for data, account, model in events:
        wanted.add(make_event(data, account_id=account, model_name=model))
    assert wanted.streams == {(ACCOUNT, MODEL), (ACCOUNT, "fraud"), ("other", MODEL)}
    assert wanted.model_ids == {"m1", "m2", "m3", "m4"}
    assert wanted.job_ids == {"j1", "j2", "j3", "j4", "j5"}
    assert wanted.deployment_ids == {"d1", "d2", "d3", "d4"}
    assert wanted.key_ids == {"k1", "k2"}


# --- 11. rows loaded into a Tables ---------------------------------------------


def load(stored: Tables, wanted: Wanted) -> Tables:
    """A `Tables` holding copies of the stored rows `wanted` names, selected as the live
    projector's queries select them (`queries.LOAD_*`)."""
    tables = Tables()
    models = [
        m
        for m in stored.models.values()
        if m["model_id"] in wanted.model_ids
        or (m["deleted_at"] is None and (m["account_id"], m["model_name"]) in wanted.streams)
    ]
    for model in models:
        tables.add_model(copy.deepcopy(model))
    for version in stored.versions.values():
        if version["job_id"] in wanted.job_ids:
            tables.add_version(copy.deepcopy(version))
    named = {
        d["model_id"]
        for d in stored.deployments.values()
        if d["deployment_id"] in wanted.deployment_ids
    }
    deployments = [
        d
        for d in stored.deployments.values()
        if d["deployment_id"] in wanted.deployment_ids
        or (d["ended_at"] is None and (d["model_id"] in wanted.model_ids | named))
    ]
    for deployment in sorted(deployments, key=lambda d: (d["created_at"], d["deployment_id"])):
        tables.add_deployment(copy.deepcopy(deployment))
    for key in stored.api_keys.values():
        if key["key_id"] in wanted.key_ids:
            tables.add_api_key(copy.deepcopy(key))
    return tables


def test_loaded_rows_are_updated_as_rows_made_in_the_same_tables() -> None:
    whole = Log()
    whole.account(issued("k1"))
    whole.apply(created())
    whole.apply(BuildStarted(job_id="j1", version=1))
    whole.apply(trained())
    whole.apply(VersionReady(job_id="j1", version=1))
    whole.apply(deploy("d1"))
    whole.apply(DeploymentActivated(deployment_id="d1", version=1))
    whole.apply(deploy("d2", environment="staging"))
    whole.apply(DeploymentActivated(deployment_id="d2", version=1))
    whole.apply(deploy("d3"))
    whole.apply(VersionRequested(model_id="m1", training=training("j2", 2)))
    whole.apply(created("m9", "j9"), model="fraud")

    batch: list[tuple[EventData, str]] = [
        (ApiKeyRevoked(key_id="k1", revoked_by="key_admin"), ""),
        (BuildProgressed(job_id="j2", version=2, progress=30, lines=["c1"]), MODEL),
        (DeploymentActivated(deployment_id="d3", version=1), MODEL),  # replaces loaded d1
        (BuildFailed(job_id="j2", version=2, code="c", message="m"), MODEL),
        (ModelUpdated(model_id="m1", description="loaded"), MODEL),
        (ModelDeleted(model_id="m1"), MODEL),  # ends loaded d2 and d3
        (created("m2", "j3"), MODEL),
        (BuildStarted(job_id="j3", version=1), MODEL),
    ]
    wanted = Wanted()
    for data, model in batch:
        wanted.add(make_event(data, account_id=ACCOUNT, model_name=model))
    live = Log(load(whole.tables, wanted))
    live.offset = whole.offset
    n_logs = len(whole.tables.build_logs)
    forget_changes(whole.tables)
    for data, model in batch:
        whole.apply(data, model=model)
        live.apply(data, model=model)

    assert changed(live.tables) == changed(whole.tables)
    assert changed(live.tables) == {
        "accounts": [],
        "api_keys": ["k1"],
        "uploads": [],
        "models": ["m1", "m2"],
        "versions": [("m1", 2), ("m2", 1)],
        "deployments": ["d1", "d3", "d2"],
    }
    for table, keys in live.tables.changed.items():
        for key in keys:
            assert rows_of(live.tables, table)[key] == rows_of(whole.tables, table)[key]
    assert live.tables.build_logs == whole.tables.build_logs[n_logs:]
    assert "m9" not in live.tables.models
    assert live.tables.deployments["d1"]["status"] == DeploymentStatus.REPLACED
    assert live.tables.deployments["d2"]["status"] == DeploymentStatus.DELETED
    assert live.tables.api_keys["k1"]["revoked_by"] == "key_admin"
    assert live.tables.live_model(ACCOUNT, MODEL) is live.tables.models["m2"]


def test_a_loaded_deleted_model_is_not_the_live_one() -> None:
    stored = Log()
    stored.apply(created())
    stored.apply(ModelDeleted(model_id="m1"))
    stored.apply(created("m2", "j2"))
    live = Log(Tables())
    live.offset = stored.offset
    live.tables.add_model(copy.deepcopy(stored.tables.models["m2"]))
    live.tables.add_model(copy.deepcopy(stored.tables.models["m1"]))  # loaded after, deleted
    assert live.tables.live_model(ACCOUNT, MODEL) is live.tables.models["m2"]
    env = live.apply(BuildStarted(job_id="j2", version=1))
    assert live.tables.models["m2"]["updated_at"] == env.occurred_at
    assert live.tables.models["m1"] == stored.tables.models["m1"]
    assert list(live.tables.changed["models"]) == ["m2"]
