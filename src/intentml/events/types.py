"""Every event type of the log: the `data` part of an envelope.

Facts are named in the past tense; `...Requested` is work a worker must do.
These Structs are a public contract for subscribers: new fields get defaults,
a changed meaning gets a new schema version and an upcaster.
"""

from __future__ import annotations

from typing import Any

import msgspec

from intentml.domain.interpretation import Interpretation
from intentml.domain.profiles import ColumnProfile
from intentml.domain.training_options import TrainingOptions
from intentml.domain.training_report import TrainingResult


class Column(msgspec.Struct, frozen=True):
    """A column of an uploaded dataset, its user-facing type and its profile.

    `profile` is what the upload's inspection learned of the column's values (None
    for an upload recorded before profiles existed: a v1 `DatasetUploaded`, or a
    column the inspection could not profile).
    """

    name: str
    type: str
    profile: ColumnProfile | None = None


class TrainingRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a trainer needs to build one version, resolved at command time.

    Schema v2 of the events that carry it (`ModelCreated`, `VersionRequested`) moved
    the loose `metric`, `task`, `max_iterations` and `time_budget_s` into `options`.
    """

    job_id: str
    version: int
    version_id: str
    upload_id: str
    dataset_format: str
    intent: str
    target: str
    target_reason: str
    output_fields: list[str] = msgspec.field(default_factory=list)
    #: How to train, as the user asked (carried whole to the trainer and the report).
    options: TrainingOptions = msgspec.field(default_factory=TrainingOptions)
    #: What the LLM interpreter answered when the command was accepted (None: none is
    #: configured, or the request named its target); never asked again after that.
    interpretation: Interpretation | None = None


class RateLimits(msgspec.Struct, frozen=True, kw_only=True):
    """A key's own request limits per minute; a limit left None is no limit at all."""

    management_per_minute: int | None = None
    inference_per_minute: int | None = None


class AccountCreated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """An account exists; its id is the envelope's `account_id` (a tenant of its own)."""

    #: Who created it: an operator through the CLI, or start-up for `default`.
    created_by: str = ""


class ApiKeyIssued(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """An API key was registered for the envelope's account. Only its hash is in the
    log, never the secret; `key_id` is derived from the hash (`key_id_for`)."""

    key_id: str
    key_hash: str
    scope: str
    name: str = ""
    #: The key id of the admin that issued it, or the operator/start-up that did.
    issued_by: str = ""
    #: The key's own rate limits; None: the platform's defaults.
    rate_limits: RateLimits | None = None


class ApiKeyRevoked(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """An API key of the envelope's account stops working."""

    key_id: str
    #: The key id of the admin that revoked it (or the operator that did).
    revoked_by: str = ""


class ApiKeyLimitsChanged(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """An API key of the envelope's account has new rate limits."""

    key_id: str
    #: The key's own limits from now on; None: back to the platform's defaults.
    rate_limits: RateLimits | None = None
    #: The key id of the admin that changed them.
    changed_by: str = ""


class DatasetUploaded(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A file was stored in the artifact store and parsed successfully.

    Schema v2 gave each column its `profile` (v1 events decode with none).
    """

    upload_id: str
    filename: str
    format: str
    rows: int
    columns: list[Column]
    size_bytes: int
    sha256: str


class ModelCreated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A model was created; its first version's training is requested with it."""

    model_id: str
    name: str
    intent: str
    description: str = ""
    tags: list[str] = msgspec.field(default_factory=list)
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    training: TrainingRequest


class VersionRequested(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A new version of an existing model was requested (retrain or a new dataset)."""

    model_id: str
    training: TrainingRequest
    #: "retrain" (POST .../retrain) or "new_version" (POST .../versions).
    reason: str = "retrain"
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None


class ModelUpdated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A model's metadata changed; fields left None are unchanged."""

    model_id: str
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None


class ModelDeleted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A model and its deployments were deleted; its history stays in the log."""

    model_id: str


class DeploymentRequested(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A READY version should serve behind a deployment endpoint."""

    model_id: str
    deployment_id: str
    version: int
    environment: str = "production"
    replicas: int = 1
    auto_scale: bool = True


class DeploymentActivated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """The deployer checked the version through the serving path; the deployment serves.

    It replaces any other ACTIVE deployment of the model in the same environment.
    """

    deployment_id: str
    version: int


class DeploymentFailed(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """The deployment could not be activated, with a reason for the user."""

    deployment_id: str
    message: str


class UndeployRequested(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A deployment should stop serving."""

    deployment_id: str


class DeploymentStopped(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """The deployment no longer serves."""

    deployment_id: str


class BuildStarted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A trainer picked up the job."""

    job_id: str
    version: int
    worker: str = ""
    #: Names this attempt at the build (a lost worker's build is started again), so its
    #: progress can be told from an earlier attempt's; "" in events from before.
    attempt_id: str = ""


class BuildProgressed(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """Progress of a build (0-100) and the build-log lines since the last one."""

    job_id: str
    version: int
    progress: int
    lines: list[str] = msgspec.field(default_factory=list)
    #: The `attempt_id` of the `BuildStarted` this progress belongs to ("" in older events).
    attempt_id: str = ""


class VersionTrained(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """Training finished; the artifact is in the store, not yet checked by serving.

    Schema v2 moved v1's loose result fields (task, metrics, schemas, report, ...)
    into `result`.
    """

    job_id: str
    version: int
    artifact: str
    result: TrainingResult


class VersionReady(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A sample prediction through the serving path succeeded: the version serves."""

    job_id: str
    version: int
    sample_output: dict[str, Any] = msgspec.field(default_factory=dict)


class BuildCancelRequested(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A user asked to stop a version's build: accepted only while the version is PENDING
    or BUILDING and not yet trained (the fold's rule); the trainer then stops it and
    reports `BuildCancelled`."""

    model_id: str
    job_id: str
    version: int
    #: Why, in the user's words ("" when none was given).
    reason: str = ""


class BuildCancelled(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """The trainer stopped a build on request (dequeued, or its process killed): the
    version is CANCELLED, final."""

    job_id: str
    version: int
    #: Who asked and why, for the user ("cancelled by key_...: <their reason>").
    reason: str


class BuildFailed(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """The build (training or the serving check) failed, with a reason for the user."""

    job_id: str
    version: int
    code: str
    message: str


#: An account's own events (its stream: `account_id/`).
AccountEvent = AccountCreated | ApiKeyIssued | ApiKeyRevoked | ApiKeyLimitsChanged
#: Commands about a model and its versions.
ModelEvent = ModelCreated | VersionRequested | ModelUpdated | ModelDeleted | BuildCancelRequested
#: A deployment's life, requested to stopped.
DeploymentEvent = (
    DeploymentRequested
    | DeploymentActivated
    | DeploymentFailed
    | UndeployRequested
    | DeploymentStopped
)
#: What the workers report about a build.
BuildEvent = (
    BuildStarted | BuildProgressed | VersionTrained | VersionReady | BuildFailed | BuildCancelled
)

EventData = AccountEvent | DatasetUploaded | ModelEvent | DeploymentEvent | BuildEvent

#: Event types that ask a trainer to build a version.
TRAINING_REQUESTS = (ModelCreated, VersionRequested)
