"""The audit timeline's words: one human-readable line per event, pure.

An auditor reads these next to the raw events, so each line says what the event
asked or recorded in the platform's own terms (versions as `v3`, metrics with
their names), and nothing that is not in the event itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, assert_never

import msgspec

from intentml.domain.names import version_label
from intentml.events.envelope import Envelope, decode
from intentml.events.types import (
    AccountCreated,
    AccountEvent,
    ApiKeyIssued,
    ApiKeyLimitsChanged,
    ApiKeyRevoked,
    BuildCancelled,
    BuildCancelRequested,
    BuildEvent,
    BuildFailed,
    BuildProgressed,
    BuildStarted,
    DatasetUploaded,
    DeploymentActivated,
    DeploymentEvent,
    DeploymentFailed,
    DeploymentRequested,
    DeploymentStopped,
    ModelCreated,
    ModelDeleted,
    ModelEvent,
    ModelUpdated,
    UndeployRequested,
    VersionReady,
    VersionRequested,
    VersionTrained,
)

#: Longest piece of user text (intent, a build-log line) quoted in a summary.
_QUOTE_MAX = 120


def _quote(text: str) -> str:
    one_line = " ".join(text.split())
    if len(one_line) > _QUOTE_MAX:
        one_line = one_line[: _QUOTE_MAX - 1] + "…"
    return repr(one_line)


def event_version(envelope: Envelope) -> int | None:
    """The model version an event is about, if it names one."""
    d = envelope.data
    match d:
        case ModelCreated() | VersionRequested():
            return d.training.version
        case (
            DeploymentRequested()
            | DeploymentActivated()
            | BuildStarted()
            | BuildProgressed()
            | VersionTrained()
            | VersionReady()
            | BuildFailed()
            | BuildCancelRequested()
            | BuildCancelled()
        ):
            return d.version
        case (
            AccountCreated()
            | ApiKeyIssued()
            | ApiKeyRevoked()
            | ApiKeyLimitsChanged()
            | DatasetUploaded()
            | ModelUpdated()
            | ModelDeleted()
            | DeploymentFailed()
            | UndeployRequested()
            | DeploymentStopped()
        ):
            return None
        case _:
            assert_never(d)


def summarize(envelope: Envelope) -> str:
    """One line saying what `envelope` asked for or recorded."""
    d = envelope.data
    match d:
        case (
            ModelCreated()
            | VersionRequested()
            | ModelUpdated()
            | ModelDeleted()
            | BuildCancelRequested()
        ):
            return _model_summary(d)
        case (
            DeploymentRequested()
            | DeploymentActivated()
            | DeploymentFailed()
            | UndeployRequested()
            | DeploymentStopped()
        ):
            return _deployment_summary(d)
        case (
            BuildStarted()
            | BuildProgressed()
            | VersionTrained()
            | VersionReady()
            | BuildFailed()
            | BuildCancelled()
        ):
            return _build_summary(d)
        case DatasetUploaded():
            return f"dataset {d.upload_id} uploaded: {d.filename!r}, {d.rows} rows, {d.format}"
        case AccountCreated() | ApiKeyIssued() | ApiKeyLimitsChanged() | ApiKeyRevoked():
            return _account_summary(d, envelope.actor)
        case _:
            assert_never(d)


def _model_summary(d: ModelEvent) -> str:
    match d:
        case ModelCreated():
            t = d.training
            return (
                f"model created with intent {_quote(d.intent)}; target '{t.target}' "
                f"({t.target_reason}); {version_label(t.version)} requested on dataset "
                f"{t.upload_id}"
            )
        case VersionRequested():
            what = "retrain" if d.reason == "retrain" else "new version"
            t = d.training
            return (
                f"{what}: {version_label(t.version)} requested on dataset {t.upload_id}, "
                f"target '{t.target}'"
            )
        case ModelUpdated():
            changes = []
            if d.name is not None:
                changes.append(f"name {_quote(d.name)}")
            if d.description is not None:
                changes.append("description changed")
            if d.tags is not None:
                changes.append(f"tags {d.tags}")
            return "model updated: " + (", ".join(changes) or "nothing changed")
        case ModelDeleted():
            return "model deleted with its deployments"
        case BuildCancelRequested():
            why = f": {_quote(d.reason)}" if d.reason else ""
            return f"cancel of the build of {version_label(d.version)} requested{why}"
        case _:
            assert_never(d)


def _deployment_summary(d: DeploymentEvent) -> str:
    match d:
        case DeploymentRequested():
            return (
                f"deployment {d.deployment_id} of {version_label(d.version)} requested "
                f"({d.environment}, {d.replicas} replica{'s' if d.replicas != 1 else ''})"
            )
        case DeploymentActivated():
            return f"deployment {d.deployment_id} of {version_label(d.version)} is ACTIVE"
        case DeploymentFailed():
            return f"deployment {d.deployment_id} failed: {d.message}"
        case UndeployRequested():
            return f"undeployment of {d.deployment_id} requested"
        case DeploymentStopped():
            return f"deployment {d.deployment_id} stopped"
        case _:
            assert_never(d)


def _build_summary(d: BuildEvent) -> str:
    match d:
        case BuildStarted():
            return f"build of {version_label(d.version)} started on {d.worker or 'a trainer'}"
        case BuildProgressed():
            last = f": {_quote(d.lines[-1])}" if d.lines else ""
            return f"build of {version_label(d.version)} at {d.progress}%{last}"
        case VersionTrained():
            return (
                f"{version_label(d.version)} trained ({d.result.task}): {d.result.metric_name} = "
                f"{d.result.metric_value:.4f} on held-out rows, {d.result.rows_used} rows used"
            )
        case VersionReady():
            return f"{version_label(d.version)} is READY: a sample prediction was served"
        case BuildFailed():
            return f"build of {version_label(d.version)} failed ({d.code}): {d.message}"
        case BuildCancelled():
            return f"build of {version_label(d.version)} cancelled: {d.reason}"
        case _:
            assert_never(d)


def _account_summary(d: AccountEvent, actor: str) -> str:
    """`actor` (the envelope's) names the author of events from before they named one."""
    match d:
        case AccountCreated():
            return f"account created by {d.created_by or actor}"
        case ApiKeyIssued():
            return f"key {d.key_id} issued ({d.scope}) by {d.issued_by or actor}"
        case ApiKeyLimitsChanged():
            limits = (
                "the defaults"
                if d.rate_limits is None
                else (
                    f"{d.rate_limits.management_per_minute} management, "
                    f"{d.rate_limits.inference_per_minute} inference requests a minute"
                )
            )
            return f"key {d.key_id} limits set to {limits} by {d.changed_by or actor}"
        case ApiKeyRevoked():
            return f"key {d.key_id} revoked by {d.revoked_by or actor}"
        case _:
            assert_never(d)


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One event of a model's timeline: what happened, when, by whose key, and whether
    the log's fold accepted it (a rejected command stays in the history, with why)."""

    event_id: str
    type: str
    schema_version: int
    occurred_at: datetime
    #: The key id (`key_...`) or worker that appended the event.
    actor: str
    summary: str
    accepted: bool
    #: Why the fold rejected it (None when accepted).
    reason: str | None
    #: The version it is about (`v3`), if it names one.
    model_version: str | None
    causation_id: str | None
    correlation_id: str | None
    partition: int
    offset: int
    hash: str
    prev_hash: str


class ArchiveRow(Protocol):
    """A row of the events archive, as a database driver returns it."""

    def __getitem__(self, key: str) -> Any: ...


def archived_entry(row: ArchiveRow) -> AuditEntry:
    """The timeline entry of a row of the events archive (`value` holds the stored bytes)."""
    return audit_entry(
        decode(row["value"]),
        partition=row["partition"],
        offset=row["offset"],
        hash=row["hash"],
        accepted=row["accepted"],
        reason=row["reason"],
    )


def audit_entry(
    envelope: Envelope,
    *,
    partition: int,
    offset: int,
    hash: str,
    accepted: bool,
    reason: str | None,
) -> AuditEntry:
    """The timeline entry of an archived event."""
    version = event_version(envelope)
    return AuditEntry(
        event_id=envelope.event_id,
        type=envelope.type,
        schema_version=envelope.schema_version,
        occurred_at=envelope.occurred_at,
        actor=envelope.actor,
        summary=summarize(envelope),
        accepted=accepted,
        reason=None if accepted else reason,
        model_version=None if version is None else version_label(version),
        causation_id=envelope.causation_id,
        correlation_id=envelope.correlation_id,
        partition=partition,
        offset=offset,
        hash=hash,
        prev_hash=envelope.prev_hash,
    )


def timeline_line(entry: AuditEntry) -> str:
    """One line of `intentml audit`: time, type, actor, summary, and the verdict if it
    was rejected."""
    verdict = "" if entry.accepted else f"  [REJECTED: {entry.reason}]"
    return (
        f"{entry.occurred_at.isoformat(timespec='milliseconds')}  {entry.type:<19}  "
        f"{entry.actor or '-':<20}  {entry.summary}{verdict}"
    )
