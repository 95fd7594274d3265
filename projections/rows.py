"""What each accepted event writes into the read models, computed in memory.

This is the one definition of the main projection's writes. `project` changes rows
held in a `Tables`; where those rows come from and where they go is the caller's:

- the live projector (`projections.projector`) loads the rows a poll batch can touch
  (`Wanted` names them), projects the batch, and upserts the rows it changed;
- a rebuild (`projections.replay`) keeps every row in memory and writes each table
  once with COPY, the only way to reach tens of thousands of events a second.

No I/O here: rows are plain dicts keyed by column name (`queries.COLUMNS` gives each
table's columns in order), so the semantics are unit-tested without a database.
An update whose row is not there does nothing, as an SQL `UPDATE ... WHERE` would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, assert_never

import msgspec

from intentml.domain.statuses import DeploymentStatus, VersionStatus
from intentml.events.envelope import Envelope
from intentml.events.types import (
    AccountCreated,
    ApiKeyIssued,
    ApiKeyLimitsChanged,
    ApiKeyRevoked,
    BuildCancelled,
    BuildCancelRequested,
    BuildFailed,
    BuildProgressed,
    BuildStarted,
    Column,
    DatasetUploaded,
    DeploymentActivated,
    DeploymentFailed,
    DeploymentRequested,
    DeploymentStopped,
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

Row = dict[str, Any]
#: Where an event is in the log: (partition, offset).
Position = tuple[int, int]
#: A version's primary key: (model_id, version).
VersionKey = tuple[str, int]


@dataclass
class Wanted:
    """The stored rows a batch of events can change, by the keys the events carry."""

    #: (account_id, model_name): the live model of each model stream.
    streams: set[tuple[str, str]] = field(default_factory=set)
    model_ids: set[str] = field(default_factory=set)
    job_ids: set[str] = field(default_factory=set)
    #: Deployments named by an event; the live deployments of their models come with them.
    deployment_ids: set[str] = field(default_factory=set)
    key_ids: set[str] = field(default_factory=set)

    def add(self, env: Envelope) -> None:
        """Name the rows `env` can change (inserts need nothing loaded)."""
        d = env.data
        if env.model_name:
            self.streams.add((env.account_id, env.model_name))
        match d:
            case VersionRequested() | ModelUpdated() | ModelDeleted() | DeploymentRequested():
                self.model_ids.add(d.model_id)
            case (
                BuildStarted()
                | BuildProgressed()
                | VersionTrained()
                | VersionReady()
                | BuildFailed()
                | BuildCancelRequested()
                | BuildCancelled()
            ):
                self.job_ids.add(d.job_id)
            case (
                DeploymentActivated()
                | DeploymentFailed()
                | UndeployRequested()
                | DeploymentStopped()
            ):
                self.deployment_ids.add(d.deployment_id)
            case ApiKeyLimitsChanged() | ApiKeyRevoked():
                self.key_ids.add(d.key_id)
            case AccountCreated() | ApiKeyIssued() | DatasetUploaded() | ModelCreated():
                pass  # they only insert rows: nothing stored to load
            case _:
                assert_never(d)


class Tables:
    """Read-model rows in memory, with the lookups the projection needs.

    `changed` records (with `track_changes`), per table and in order of first change,
    the keys of rows that were inserted or updated: what the live projector writes back.
    Writing tables in `queries.COLUMNS` order, rows in that order, never breaks a
    constraint on the way (a model before its versions; a model deleted before its name
    is reused).
    """

    def __init__(self, track_changes: bool = True) -> None:
        self.track_changes = track_changes
        self.accounts: dict[str, Row] = {}
        self.api_keys: dict[str, Row] = {}
        self.uploads: dict[str, Row] = {}
        self.models: dict[str, Row] = {}
        self.versions: dict[VersionKey, Row] = {}
        self.deployments: dict[str, Row] = {}
        #: Insert-only, so kept as tuples in `queries.COLUMNS["build_logs"]` order: the
        #: rows this `Tables` added (never loaded). Most of a rebuild's rows are these.
        self.build_logs: list[tuple[Any, ...]] = []
        self._live_models: dict[tuple[str, str], str] = {}
        self._version_by_job: dict[str, VersionKey] = {}
        self._live_deployments: dict[str, dict[str, None]] = {}
        self.changed: dict[str, dict[Any, None]] = {
            t: {} for t in ("accounts", "api_keys", "uploads", "models", "versions", "deployments")
        }

    # --- adding rows (loaded ones and new ones alike) ---

    def add_model(self, row: Row) -> None:
        """Hold a model row."""
        self.models[row["model_id"]] = row
        if row["deleted_at"] is None:
            self._live_models[(row["account_id"], row["model_name"])] = row["model_id"]

    def add_version(self, row: Row) -> None:
        """Hold a version row."""
        key = (row["model_id"], row["version"])
        self.versions[key] = row
        self._version_by_job[row["job_id"]] = key

    def add_deployment(self, row: Row) -> None:
        """Hold a deployment row."""
        self.deployments[row["deployment_id"]] = row
        if row["ended_at"] is None:
            self._live_deployments.setdefault(row["model_id"], {})[row["deployment_id"]] = None

    def add_api_key(self, row: Row) -> None:
        """Hold an API key row."""
        self.api_keys[row["key_id"]] = row

    # --- lookups ---

    def live_model(self, account_id: str, model_name: str) -> Row | None:
        """The model of a stream that is not deleted, if there is one."""
        model_id = self._live_models.get((account_id, model_name))
        return None if model_id is None else self.models[model_id]

    def version_of_job(self, job_id: str, version: int) -> Row | None:
        """The version a build job makes, if it is `version`."""
        key = self._version_by_job.get(job_id)
        return self.versions[key] if key is not None and key[1] == version else None

    def live_deployments(self, model_id: str) -> list[Row]:
        """A model's deployments that have not ended, oldest first."""
        return [self.deployments[d] for d in self._live_deployments.get(model_id, ())]

    # --- changes ---

    def mark(self, table: str, key: Any) -> None:
        """Record that a row was inserted or updated (a rebuild, which writes every row,
        does not track)."""
        if self.track_changes:
            self.changed[table][key] = None  # a dict keeps the first insertion's place

    def end_deployment(self, row: Row, status: DeploymentStatus, at: datetime) -> None:
        """A deployment stops serving: its final status and end time."""
        row.update(status=status, ended_at=at, updated_at=at)
        self._live_deployments.get(row["model_id"], {}).pop(row["deployment_id"], None)
        self.mark("deployments", row["deployment_id"])

    def delete_model(self, row: Row, at: datetime) -> None:
        """A model is deleted: its name is free again, its row stays for the history."""
        row.update(deleted_at=at, updated_at=at)
        key = (row["account_id"], row["model_name"])
        if self._live_models.get(key) == row["model_id"]:
            del self._live_models[key]
        self.mark("models", row["model_id"])


def _limits(limits: RateLimits | None) -> Any:
    return None if limits is None else msgspec.to_builtins(limits)


def _version_row(env: Envelope, model_id: str, t: TrainingRequest, source: str) -> Row:
    return {
        "model_id": model_id,
        "version": t.version,
        "version_id": t.version_id,
        "job_id": t.job_id,
        "account_id": env.account_id,
        "model_name": env.model_name,
        "status": VersionStatus.PENDING,
        "build_progress": 0,
        "upload_id": t.upload_id,
        "intent": t.intent,
        "target": t.target,
        "target_reason": t.target_reason,
        "requested_metric": t.options.metric,
        "task": t.options.task,
        "metric_name": None,
        "metric_value": None,
        "metrics": None,
        "feature_importance": None,
        "features": None,
        "dropped_columns": None,
        "rows_used": None,
        "training_seconds": None,
        "artifact": None,
        "input_schema": None,
        "output_schema": None,
        "error_code": None,
        "error_message": None,
        "created_at": env.occurred_at,
        "updated_at": env.occurred_at,
        "source": source,
        "max_iterations": t.options.max_iterations,
        "created_by": env.actor,
        "report": None,
        "time_budget_s": t.options.time_budget_s,
        "build_attempts": 0,
        "cancel_requested_at": None,
        "cancel_requested_by": None,
        "cancel_reason": None,
    }


def _request_lines(env: Envelope, t: TrainingRequest, what: str) -> list[str]:
    return [
        f"{what} for {env.model_name} v{t.version} on dataset {t.upload_id}: {t.intent!r}",
        f"target: {t.target} ({t.target_reason})",
    ]


def _log(
    tables: Tables,
    env: Envelope,
    position: Position,
    job_id: str,
    version: int,
    lines: list[str],
    level: str = "INFO",
) -> None:
    partition, offset = position
    account_id, model_name, at = env.account_id, env.model_name, env.occurred_at
    append = tables.build_logs.append
    for i, line in enumerate(lines):
        append((partition, offset, i, job_id, account_id, model_name, version, at, level, line))


# --- one function per event type: the rows it writes ---------------------------
#
# The authors of account events (`created_by`, `issued_by`, `revoked_by`) are always
# named: v1 events that left them empty are upcast from the envelope's actor.
# `here` is the event's (partition, offset): build-log lines are keyed by it.


def _account_created(tables: Tables, env: Envelope, d: AccountCreated, here: Position) -> None:
    tables.accounts[env.account_id] = {
        "account_id": env.account_id,
        "created_by": d.created_by,
        "created_at": env.occurred_at,
    }
    tables.mark("accounts", env.account_id)


def _key_issued(tables: Tables, env: Envelope, d: ApiKeyIssued, here: Position) -> None:
    tables.add_api_key(
        {
            "key_id": d.key_id,
            "account_id": env.account_id,
            "key_hash": d.key_hash,
            "scope": d.scope,
            "name": d.name,
            "created_at": env.occurred_at,
            "revoked_at": None,
            "created_by": d.issued_by,
            "revoked_by": None,
            "rate_limits": _limits(d.rate_limits),
        }
    )
    tables.mark("api_keys", d.key_id)


def _key_limits_changed(
    tables: Tables, env: Envelope, d: ApiKeyLimitsChanged, here: Position
) -> None:
    key = tables.api_keys.get(d.key_id)
    if key is not None and key["account_id"] == env.account_id:
        key["rate_limits"] = _limits(d.rate_limits)
        tables.mark("api_keys", d.key_id)


def _key_revoked(tables: Tables, env: Envelope, d: ApiKeyRevoked, here: Position) -> None:
    key = tables.api_keys.get(d.key_id)
    if key is not None and key["account_id"] == env.account_id and key["revoked_at"] is None:
        key.update(revoked_at=env.occurred_at, revoked_by=d.revoked_by)
        tables.mark("api_keys", d.key_id)


def _uploaded(tables: Tables, env: Envelope, d: DatasetUploaded, here: Position) -> None:
    tables.uploads[d.upload_id] = {
        "upload_id": d.upload_id,
        "account_id": env.account_id,
        "filename": d.filename,
        "format": d.format,
        "rows": d.rows,
        "columns": [_column_row(c) for c in d.columns],
        "size_bytes": d.size_bytes,
        "sha256": d.sha256,
        "created_by": env.actor,
        "created_at": env.occurred_at,
    }
    tables.mark("uploads", d.upload_id)


def _column_row(column: Column) -> dict[str, Any]:
    """An upload's column as its row keeps it (in `columns` jsonb): with its profile, if any."""
    row: dict[str, Any] = {"name": column.name, "type": column.type}
    if column.profile is not None:
        row["profile"] = msgspec.to_builtins(column.profile)
    return row


def _model_created(tables: Tables, env: Envelope, d: ModelCreated, here: Position) -> None:
    t = d.training
    tables.add_model(
        {
            "model_id": d.model_id,
            "account_id": env.account_id,
            "model_name": env.model_name,
            "name": d.name,
            "intent": d.intent,
            "description": d.description,
            "tags": d.tags,
            "dataset_id": t.upload_id,
            "input_schema": d.input_schema,
            "output_schema": d.output_schema,
            "latest_version": t.version,
            "created_by": env.actor,
            "created_at": env.occurred_at,
            "updated_at": env.occurred_at,
            "deleted_at": None,
        }
    )
    tables.mark("models", d.model_id)
    tables.add_version(_version_row(env, d.model_id, t, "create"))
    tables.mark("versions", (d.model_id, t.version))
    _log(tables, env, here, t.job_id, t.version, _request_lines(env, t, "build requested"))


def _version_requested(tables: Tables, env: Envelope, d: VersionRequested, here: Position) -> None:
    t = d.training
    tables.add_version(_version_row(env, d.model_id, t, d.reason))
    tables.mark("versions", (d.model_id, t.version))
    model = tables.models.get(d.model_id)
    if model is not None:
        model.update(
            latest_version=max(model["latest_version"], t.version),
            intent=t.intent,
            dataset_id=t.upload_id,
            updated_at=env.occurred_at,
        )
        tables.mark("models", d.model_id)
    what = "retrain requested" if d.reason == "retrain" else "new version requested"
    _log(tables, env, here, t.job_id, t.version, _request_lines(env, t, what))


def _model_updated(tables: Tables, env: Envelope, d: ModelUpdated, here: Position) -> None:
    model = tables.models.get(d.model_id)
    if model is not None:
        # A field the update leaves out (None) keeps its value.
        if d.name is not None:
            model["name"] = d.name
        if d.description is not None:
            model["description"] = d.description
        if d.tags is not None:
            model["tags"] = d.tags
        model["updated_at"] = env.occurred_at
        tables.mark("models", d.model_id)


def _model_deleted(tables: Tables, env: Envelope, d: ModelDeleted, here: Position) -> None:
    model = tables.models.get(d.model_id)
    if model is not None:
        tables.delete_model(model, env.occurred_at)
    for deployment in tables.live_deployments(d.model_id):
        tables.end_deployment(deployment, DeploymentStatus.DELETED, env.occurred_at)


def _deployment_requested(
    tables: Tables, env: Envelope, d: DeploymentRequested, here: Position
) -> None:
    tables.add_deployment(
        {
            "deployment_id": d.deployment_id,
            "model_id": d.model_id,
            "account_id": env.account_id,
            "model_name": env.model_name,
            "version": d.version,
            "environment": d.environment,
            "replicas": d.replicas,
            "auto_scale": d.auto_scale,
            "status": DeploymentStatus.DEPLOYING,
            "error_message": None,
            "created_by": env.actor,
            "created_at": env.occurred_at,
            "updated_at": env.occurred_at,
            "activated_at": None,
            "ended_at": None,
        }
    )
    tables.mark("deployments", d.deployment_id)


def _deployment_activated(
    tables: Tables, env: Envelope, d: DeploymentActivated, here: Position
) -> None:
    new = tables.deployments.get(d.deployment_id)
    if new is None:
        return
    # One ACTIVE deployment per environment: the new one replaces the old.
    for old in tables.live_deployments(new["model_id"]):
        same_place = old["environment"] == new["environment"]
        if same_place and old["status"] == DeploymentStatus.ACTIVE and old is not new:
            tables.end_deployment(old, DeploymentStatus.REPLACED, env.occurred_at)
    new.update(
        status=DeploymentStatus.ACTIVE, activated_at=env.occurred_at, updated_at=env.occurred_at
    )
    tables.mark("deployments", d.deployment_id)


def _deployment_failed(tables: Tables, env: Envelope, d: DeploymentFailed, here: Position) -> None:
    row = tables.deployments.get(d.deployment_id)
    if row is not None:
        row["error_message"] = d.message
        tables.end_deployment(row, DeploymentStatus.FAILED, env.occurred_at)


def _undeploy_requested(
    tables: Tables, env: Envelope, d: UndeployRequested, here: Position
) -> None:
    row = tables.deployments.get(d.deployment_id)
    if row is not None:
        row.update(status=DeploymentStatus.UNDEPLOYING, updated_at=env.occurred_at)
        tables.mark("deployments", d.deployment_id)


def _deployment_stopped(
    tables: Tables, env: Envelope, d: DeploymentStopped, here: Position
) -> None:
    row = tables.deployments.get(d.deployment_id)
    if row is not None:
        tables.end_deployment(row, DeploymentStatus.STOPPED, env.occurred_at)


def _building(tables: Tables, env: Envelope, job_id: str, version: int, progress: int) -> None:
    row = tables.version_of_job(job_id, version)
    if row is not None:
        row["status"] = VersionStatus.BUILDING
        if progress > row["build_progress"]:
            row["build_progress"] = progress
        row["updated_at"] = env.occurred_at
        tables.mark("versions", (row["model_id"], version))


def _build_started(tables: Tables, env: Envelope, d: BuildStarted, here: Position) -> None:
    worker = d.worker or "a trainer"
    line = f"build started on {worker}"
    row = tables.version_of_job(d.job_id, d.version)
    if row is not None:
        # The fold accepts one start per attempt: another start of a building version
        # means its worker was lost (rows from before attempts were counted hold 0).
        attempt = (
            max(row["build_attempts"], 1 if row["status"] == VersionStatus.BUILDING else 0) + 1
        )
        row["build_attempts"] = attempt
        if attempt > 1:
            row["build_progress"] = 0  # the lost attempt's progress is not this one's
            line = (
                f"build restarted (attempt {attempt}) on {worker}: the previous worker was "
                "lost before it finished; progress starts over"
            )
    _building(tables, env, d.job_id, d.version, 1)
    _log(tables, env, here, d.job_id, d.version, [line])


def _build_progressed(tables: Tables, env: Envelope, d: BuildProgressed, here: Position) -> None:
    _building(tables, env, d.job_id, d.version, d.progress)
    _log(tables, env, here, d.job_id, d.version, d.lines)


def _version_trained(tables: Tables, env: Envelope, d: VersionTrained, here: Position) -> None:
    row = tables.version_of_job(d.job_id, d.version)
    r = d.result
    if row is not None:
        row.update(
            build_progress=max(row["build_progress"], 95),
            task=r.task,
            metric_name=r.metric_name,
            metric_value=r.metric_value,
            metrics=r.metrics,
            feature_importance=r.feature_importance,
            features=r.features,
            dropped_columns=r.dropped_columns,
            rows_used=r.rows_used,
            training_seconds=r.training_seconds,
            artifact=d.artifact,
            input_schema=r.input_schema,
            output_schema=r.output_schema,
            updated_at=env.occurred_at,
            report=None if r.report is None else msgspec.to_builtins(r.report),
        )
        tables.mark("versions", (row["model_id"], d.version))
    line = (
        f"trained: {r.metric_name} = {r.metric_value:.4f} on held-out rows; "
        "checking the serving path"
    )
    _log(tables, env, here, d.job_id, d.version, [line])


def _version_ready(tables: Tables, env: Envelope, d: VersionReady, here: Position) -> None:
    row = tables.version_of_job(d.job_id, d.version)
    if row is not None:
        row.update(status=VersionStatus.READY, build_progress=100, updated_at=env.occurred_at)
        tables.mark("versions", (row["model_id"], d.version))
    lines = [
        f"sample prediction through the serving path: {d.sample_output}",
        f"v{d.version} is READY",
    ]
    _log(tables, env, here, d.job_id, d.version, lines)


def _build_failed(tables: Tables, env: Envelope, d: BuildFailed, here: Position) -> None:
    row = tables.version_of_job(d.job_id, d.version)
    if row is not None:
        row.update(
            status=VersionStatus.ERROR,
            error_code=d.code,
            error_message=d.message,
            updated_at=env.occurred_at,
        )
        tables.mark("versions", (row["model_id"], d.version))
    lines = [f"build failed ({d.code}): {d.message}"]
    _log(tables, env, here, d.job_id, d.version, lines, level="ERROR")


def _cancel_requested(
    tables: Tables, env: Envelope, d: BuildCancelRequested, here: Position
) -> None:
    row = tables.version_of_job(d.job_id, d.version)
    if row is not None:
        # The status stays PENDING or BUILDING until the trainer reports the build stopped.
        row.update(
            cancel_requested_at=env.occurred_at,
            cancel_requested_by=env.actor,
            cancel_reason=d.reason,
            updated_at=env.occurred_at,
        )
        tables.mark("versions", (row["model_id"], d.version))
    why = f": {d.reason}" if d.reason else ""
    _log(tables, env, here, d.job_id, d.version, [f"cancel requested by {env.actor}{why}"])


def _build_cancelled(tables: Tables, env: Envelope, d: BuildCancelled, here: Position) -> None:
    row = tables.version_of_job(d.job_id, d.version)
    if row is not None:
        row.update(
            status=VersionStatus.CANCELLED,
            error_code="cancelled",
            error_message=d.reason,
            updated_at=env.occurred_at,
        )
        tables.mark("versions", (row["model_id"], d.version))
    _log(tables, env, here, d.job_id, d.version, [f"build cancelled: {d.reason}"])


def project(tables: Tables, env: Envelope, partition: int, offset: int) -> None:
    """Apply one accepted event (at `partition`/`offset` of the log) to the rows."""
    d, here = env.data, (partition, offset)
    # Build progress first: most of the log is a build reporting how far it is.
    match d:
        case BuildProgressed():
            _build_progressed(tables, env, d, here)
        case BuildStarted():
            _build_started(tables, env, d, here)
        case VersionTrained():
            _version_trained(tables, env, d, here)
        case VersionReady():
            _version_ready(tables, env, d, here)
        case BuildFailed():
            _build_failed(tables, env, d, here)
        case BuildCancelRequested():
            _cancel_requested(tables, env, d, here)
        case BuildCancelled():
            _build_cancelled(tables, env, d, here)
        case ModelCreated():
            _model_created(tables, env, d, here)
            return  # its creation is not an update of the model
        case VersionRequested():
            _version_requested(tables, env, d, here)
        case ModelUpdated():
            _model_updated(tables, env, d, here)
        case ModelDeleted():
            _model_deleted(tables, env, d, here)
            return  # nor is its deletion
        case DeploymentRequested():
            _deployment_requested(tables, env, d, here)
        case DeploymentActivated():
            _deployment_activated(tables, env, d, here)
        case DeploymentFailed():
            _deployment_failed(tables, env, d, here)
        case UndeployRequested():
            _undeploy_requested(tables, env, d, here)
        case DeploymentStopped():
            _deployment_stopped(tables, env, d, here)
        case DatasetUploaded():
            _uploaded(tables, env, d, here)
        case AccountCreated():
            _account_created(tables, env, d, here)
        case ApiKeyIssued():
            _key_issued(tables, env, d, here)
        case ApiKeyLimitsChanged():
            _key_limits_changed(tables, env, d, here)
        case ApiKeyRevoked():
            _key_revoked(tables, env, d, here)
        case _:
            assert_never(d)
    # Any other event of a model's stream marks its live model as updated.
    if env.model_name:
        live = tables.live_model(env.account_id, env.model_name)
        if live is not None:
            live["updated_at"] = env.occurred_at
            tables.mark("models", live["model_id"])
