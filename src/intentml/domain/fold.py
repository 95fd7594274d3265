"""The fold that decides: which events of the log take effect, the same way on every replay.

Kafka has no conditional append, so two racing commands can both pass the API's
pre-checks. The projector runs every event of a stream through `decide`, in log
order; the earlier one wins and the later one is recorded as rejected with its
reason. Worker results are idempotent here: a second result for a version that
is already final is ignored, so at-least-once delivery never makes two versions.
"""

from __future__ import annotations

from typing import Literal, assert_never

import msgspec

from intentml.domain.keys import SCOPES, key_id_for
from intentml.domain.ratelimit import BAD_LIMITS, valid_limits
from intentml.domain.statuses import FINAL_VERSION_STATUSES, DeploymentStatus, VersionStatus
from intentml.domain.text import UNSTORABLE_REASON, unstorable_in
from intentml.events.envelope import Envelope
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
    ModelUpdated,
    TrainingRequest,
    UndeployRequested,
    VersionReady,
    VersionRequested,
    VersionTrained,
)


class VersionState(msgspec.Struct, frozen=True):
    """What the fold must know of one version to judge the events about it."""

    job_id: str
    status: VersionStatus = VersionStatus.PENDING
    trained: bool = False
    #: The accepted `BuildStarted`s, one per attempt, by `attempt_id` (by event id for
    #: events without one): a worker lost mid-build leaves its attempt unfinished, and the
    #: redelivered request starts another. The last one is the current attempt.
    starts: list[str] = msgspec.field(default_factory=list)
    #: A user asked to cancel the build (an accepted `BuildCancelRequested`): from then on
    #: the build may only end (`BuildCancelled`, or `BuildFailed`); it never starts,
    #: progresses or trains again.
    cancel_requested: bool = False


class DeploymentState(msgspec.Struct, frozen=True):
    """A deployment that is still live: DEPLOYING, ACTIVE or UNDEPLOYING."""

    environment: str
    version: int
    status: DeploymentStatus = DeploymentStatus.DEPLOYING


class StreamState(msgspec.Struct, frozen=True):
    """The fold state of one stream: a model's, or an account's (model_name "")."""

    model_id: str | None = None
    versions: dict[int, VersionState] = msgspec.field(default_factory=dict)
    deployments: dict[str, DeploymentState] = msgspec.field(default_factory=dict)
    key_hashes: frozenset[str] = frozenset()
    upload_ids: frozenset[str] = frozenset()
    #: An account stream: whether `AccountCreated` was seen (keys issued before accounts
    #: existed, like the first bootstrap key, do not need it).
    account_created: bool = False
    #: Key ids (of `key_hashes`) that were revoked; a revoked key is never live again.
    revoked_keys: frozenset[str] = frozenset()
    #: The hash of the stream's last event in the log, accepted or not (`judge`); None
    #: for a stream not seen yet, or one whose state predates the rule.
    head: str | None = None


#: Which kind of rule a rejected event broke: `conflict`, with the stream's state (it lost
#: a race, or asks what the state does not allow now: 409 at the API); `invalid`, a rule
#: about the event alone, whatever the state (422).
RejectionKind = Literal["conflict", "invalid"]
CONFLICT: RejectionKind = "conflict"
INVALID: RejectionKind = "invalid"

#: Why a model cannot be created under a name in use (the API's pre-check says it too).
_MODEL_EXISTS = "a model named '{}' already exists; pick another name or retrain it"


class Ruling(msgspec.Struct, frozen=True):
    """The verdict on one event and the state after it."""

    accepted: bool
    state: StreamState
    reason: str | None = None
    #: For a rejection: the kind of rule the event broke.
    kind: RejectionKind | None = None


_state_encoder = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(StreamState)


def encode_state(state: StreamState) -> bytes:
    """Serialize a fold state for the aggregates table: the same state gives the same
    bytes in every process, so a rebuild stores exactly what the live projector did.
    Sets are written sorted (a set's own order follows string hashing, salted per
    process); dicts keep the order of the events that filled them."""
    return _state_encoder.encode(
        msgspec.structs.replace(
            state,
            key_hashes=sorted(state.key_hashes),
            upload_ids=sorted(state.upload_ids),
            revoked_keys=sorted(state.revoked_keys),
        )
    )


def decode_state(raw: bytes | None) -> StreamState:
    """Deserialize a fold state; a stream never seen has the empty state."""
    return StreamState() if raw is None else _state_decoder.decode(raw)


def _reject(state: StreamState, reason: str, kind: RejectionKind = CONFLICT) -> Ruling:
    return Ruling(False, state, reason, kind)


def _with_version(state: StreamState, version: int, vs: VersionState) -> Ruling:
    versions = dict(state.versions)
    versions[version] = vs
    return Ruling(True, msgspec.structs.replace(state, versions=versions))


def _version_event(state: StreamState, version: int, job_id: str) -> VersionState | str:
    """The version a worker event refers to, or why the event cannot apply."""
    if state.model_id is None:
        return "the model does not exist (deleted or never created)"
    vs = state.versions.get(version)
    if vs is None or vs.job_id != job_id:
        return f"no build job {job_id} for version v{version}"
    if vs.status in FINAL_VERSION_STATUSES:
        return f"version v{version} is already {vs.status}; duplicate result ignored"
    return vs


def decide(state: StreamState, event: Envelope) -> Ruling:
    """Judge `event` against the state of its stream; return the verdict and new state.

    An event holding text PostgreSQL cannot store (`intentml.domain.text`) is rejected
    first: the API refuses such commands, but other writers share the log, and an
    event that cannot be projected must neither stop the projector nor be skipped."""
    where = unstorable_in(event)
    if where is not None:
        return _reject(state, f"the event's field '{where}' {UNSTORABLE_REASON}", INVALID)
    return _judge(state, event)


def _judge(state: StreamState, event: Envelope) -> Ruling:
    """Dispatch on the event type; mypy checks that every type of `EventData` has a case."""
    data = event.data
    match data:
        # Worker events first: they are most of the log (a build reports its progress often).
        case (
            BuildStarted()
            | BuildProgressed()
            | VersionTrained()
            | VersionReady()
            | BuildFailed()
            | BuildCancelled()
        ):
            return _worker_event(state, event, data)
        case AccountCreated() | ApiKeyIssued() | ApiKeyRevoked() | ApiKeyLimitsChanged():
            if event.model_name:
                return _reject(state, "account events belong to the account's own stream", INVALID)
            return _account_event(state, data)
        case DatasetUploaded():
            if data.upload_id in state.upload_ids:
                return _reject(state, f"upload {data.upload_id} is already recorded")
            return Ruling(
                True, msgspec.structs.replace(state, upload_ids=state.upload_ids | {data.upload_id})
            )
        case ModelCreated():
            return _model_created(state, event, data)
        case (
            VersionRequested()
            | ModelUpdated()
            | ModelDeleted()
            | BuildCancelRequested()
            | DeploymentRequested()
            | DeploymentActivated()
            | DeploymentFailed()
            | UndeployRequested()
            | DeploymentStopped()
        ):
            return _model_event(state, data)
        case _:
            assert_never(data)


def _worker_event(
    state: StreamState,
    event: Envelope,
    data: BuildEvent,
) -> Ruling:
    """A trainer's or deployer's report on the build of one version."""
    found = _version_event(state, data.version, data.job_id)
    if isinstance(found, str):
        return _reject(state, found)
    if found.cancel_requested and not isinstance(data, BuildCancelled | BuildFailed):
        # The user's cancel came first in the log: a build that was still starting, running
        # or finishing when the trainer heard of it has no say any more.
        return _reject(state, f"the build of v{data.version} is being cancelled; ignored")
    match data:
        case BuildStarted():
            return _build_started(state, found, data, data.attempt_id or event.event_id)
        case BuildProgressed():
            current = found.starts[-1] if found.starts else data.attempt_id
            if data.attempt_id and data.attempt_id != current:
                return _reject(
                    state, f"progress of an earlier attempt at v{data.version}, since restarted"
                )
            if found.status == VersionStatus.BUILDING:
                return Ruling(True, state)  # progress of a build already known to run
            return _with_version(
                state,
                data.version,
                msgspec.structs.replace(found, status=VersionStatus.BUILDING),
            )
        case VersionTrained():
            if found.trained:
                return _reject(
                    state, f"version v{data.version} is already trained; duplicate ignored"
                )
            trained = msgspec.structs.replace(found, status=VersionStatus.BUILDING, trained=True)
            return _with_version(state, data.version, trained)
        case VersionReady():
            if not found.trained:
                return _reject(state, f"version v{data.version} has no trained artifact yet")
            ready = msgspec.structs.replace(found, status=VersionStatus.READY)
            return _with_version(state, data.version, ready)
        case BuildFailed():
            failed = msgspec.structs.replace(found, status=VersionStatus.ERROR)
            return _with_version(state, data.version, failed)
        case BuildCancelled():
            if not found.cancel_requested:
                return _reject(state, f"no cancel of v{data.version} was requested")
            cancelled = msgspec.structs.replace(found, status=VersionStatus.CANCELLED)
            return _with_version(state, data.version, cancelled)
        case _:
            assert_never(data)


def _model_created(state: StreamState, event: Envelope, data: ModelCreated) -> Ruling:
    """A model under a free name; it starts with its first version requested."""
    if (taken := name_in_use(state, event.model_name)) is not None:
        return taken
    t = data.training
    if t.version != 1:
        return _reject(state, "a new model starts at version v1", INVALID)
    return Ruling(
        True,
        StreamState(model_id=data.model_id, versions={t.version: VersionState(job_id=t.job_id)}),
    )


def _model_event(
    state: StreamState,
    data: VersionRequested | ModelUpdated | ModelDeleted | BuildCancelRequested | DeploymentEvent,
) -> Ruling:
    """A command or fact about an existing model: its versions, metadata, deployments."""
    if state.model_id is None:
        return _reject(state, "the model does not exist (deleted or never created)")
    # Commands name the model they were checked against: one deleted and created again
    # between the API's check and the append must not receive them.
    if getattr(data, "model_id", state.model_id) != state.model_id:
        return _reject(state, "the command is about an earlier model of this name")
    match data:
        case VersionRequested():
            return _request_version(state, data.training)
        case ModelUpdated():
            return Ruling(True, state)
        case BuildCancelRequested():
            return _cancel_requested(state, data)
        case ModelDeleted():
            # Versions and deployments go with the model; a model created later under the
            # same name starts from nothing, and late worker results for these jobs are
            # rejected.
            return Ruling(True, StreamState())
        case (
            DeploymentRequested()
            | DeploymentActivated()
            | DeploymentFailed()
            | UndeployRequested()
            | DeploymentStopped()
        ):
            return _deployment_event(state, data)
        case _:
            assert_never(data)


def name_in_use(state: StreamState, model_name: str) -> Ruling | None:
    """The rejection of a `ModelCreated` under a name in use, or None while it is free.
    The API asks it before it resolves the training request too: a name in use is a 409
    before any question about the request."""
    if state.model_id is None:
        return None
    return _reject(state, _MODEL_EXISTS.format(model_name))


def judge(state: StreamState, event: Envelope, digest: str) -> Ruling:
    """`decide`, after the chain rule: an event takes part in its stream only if it links to
    the stream's last event (`prev_hash` is that event's hash, `head`). What does not link
    is a re-sent copy of an event already in the log (an appender that lost the broker's
    acknowledgement produces it again, `intentml.events.log`) or an event appended around
    the platform; it is rejected and the head stays, so nothing takes effect twice.
    `digest` is the hash of the event's stored bytes: a linked event, accepted or
    rejected, becomes the new head, as the appenders chain every event."""
    if state.head is not None and event.prev_hash != state.head:
        what = (
            "a re-sent copy of the stream's last event"
            if digest == state.head
            else "a re-sent copy of an earlier event, or one appended outside intentml"
        )
        return _reject(state, f"not linked to the stream's last event ({what}); ignored")
    verdict = decide(state, event)
    return msgspec.structs.replace(
        verdict, state=msgspec.structs.replace(verdict.state, head=digest)
    )


def _build_started(
    state: StreamState, found: VersionState, data: BuildStarted, attempt: str
) -> Ruling:
    """Each start is an attempt at the build; the same start twice is a redelivered
    record, and a start after the version was trained is a late one (a worker that got
    the request again before the result was projected): neither is a new attempt."""
    if attempt in found.starts:
        return _reject(state, f"the build of v{data.version} was already started by it")
    if found.trained:
        return _reject(state, f"version v{data.version} is already trained; late start ignored")
    started = [*found.starts, attempt]
    building = msgspec.structs.replace(found, status=VersionStatus.BUILDING, starts=started)
    return _with_version(state, data.version, building)


def _request_version(state: StreamState, t: TrainingRequest) -> Ruling:
    expected = max(state.versions, default=0) + 1
    if t.version != expected:
        return _reject(
            state, f"version v{t.version} cannot be requested: the next version is v{expected}"
        )
    return _with_version(state, t.version, VersionState(job_id=t.job_id))


def _cancel_requested(state: StreamState, data: BuildCancelRequested) -> Ruling:
    """A build can be cancelled while it waits or runs; once trained, its verdict is
    seconds away (the serving check) and there is nothing left to stop. A second request
    for the same build is a conflict: the first one already stops it."""
    v = data.version
    vs = state.versions.get(v)
    if vs is None or vs.job_id != data.job_id:
        return _reject(state, f"no build job {data.job_id} for version v{v}")
    if vs.status in FINAL_VERSION_STATUSES:
        return _reject(state, f"v{v} is already {vs.status}; there is nothing to cancel")
    if vs.trained:
        return _reject(
            state,
            f"v{v} is already trained (its serving check is under way); there is nothing to cancel",
        )
    if vs.cancel_requested:
        return _reject(
            state,
            f"the cancel of v{v} was already requested; it becomes CANCELLED once the "
            "trainer has stopped its build",
        )
    return _with_version(state, v, msgspec.structs.replace(vs, cancel_requested=True))


def _with_deployment(state: StreamState, deployments: dict[str, DeploymentState]) -> Ruling:
    return Ruling(True, msgspec.structs.replace(state, deployments=deployments))


def _deployment_event(
    state: StreamState,
    data: DeploymentEvent,
) -> Ruling:
    match data:
        case DeploymentRequested():
            return _deployment_requested(state, data)
        case DeploymentActivated() | DeploymentFailed() | UndeployRequested() | DeploymentStopped():
            return _live_deployment_event(state, data)
        case _:
            assert_never(data)


def _deployment_requested(state: StreamState, data: DeploymentRequested) -> Ruling:
    if data.deployment_id in state.deployments:
        return _reject(state, f"deployment {data.deployment_id} already exists")
    vs = state.versions.get(data.version)
    if vs is None or vs.status != VersionStatus.READY:
        status = "missing" if vs is None else vs.status
        return _reject(
            state,
            f"version v{data.version} is {status}, not READY; only READY versions can be deployed",
        )
    deployments = dict(state.deployments)
    deployments[data.deployment_id] = DeploymentState(data.environment, data.version)
    return _with_deployment(state, deployments)


def _live_deployment_event(
    state: StreamState,
    data: DeploymentActivated | DeploymentFailed | UndeployRequested | DeploymentStopped,
) -> Ruling:
    """What happens to a deployment that is live: DEPLOYING, ACTIVE or UNDEPLOYING."""
    deployments = dict(state.deployments)
    current = deployments.get(data.deployment_id)
    if current is None:
        return _reject(state, f"deployment {data.deployment_id} is not live")
    match data:
        case DeploymentActivated():
            if current.status != DeploymentStatus.DEPLOYING:
                return _reject(state, f"deployment {data.deployment_id} is {current.status}")
            # One ACTIVE deployment per environment: the new one replaces the old.
            for dep_id, dep in state.deployments.items():
                if dep.environment == current.environment and dep.status == DeploymentStatus.ACTIVE:
                    del deployments[dep_id]
            deployments[data.deployment_id] = msgspec.structs.replace(
                current, status=DeploymentStatus.ACTIVE
            )
        case DeploymentFailed():
            if current.status != DeploymentStatus.DEPLOYING:
                return _reject(state, f"deployment {data.deployment_id} is {current.status}")
            del deployments[data.deployment_id]
        case UndeployRequested():
            if current.status == DeploymentStatus.UNDEPLOYING:
                return _reject(
                    state, f"deployment {data.deployment_id} is already being undeployed"
                )
            deployments[data.deployment_id] = msgspec.structs.replace(
                current, status=DeploymentStatus.UNDEPLOYING
            )
        case DeploymentStopped():
            if current.status != DeploymentStatus.UNDEPLOYING:
                return _reject(state, f"deployment {data.deployment_id} was not being undeployed")
            del deployments[data.deployment_id]
        case _:
            assert_never(data)
    return _with_deployment(state, deployments)


_SCOPES = ", ".join(SCOPES)


def _account_event(state: StreamState, data: AccountEvent) -> Ruling:
    """Accounts and their keys. A key's account need not have an `AccountCreated`: the
    first bootstrap keys predate accounts, and accounts are never deleted, so the
    operator's pre-check that the account exists cannot be raced."""
    match data:
        case AccountCreated():
            if state.account_created:
                return _reject(state, "the account already exists")
            return Ruling(True, msgspec.structs.replace(state, account_created=True))
        case ApiKeyIssued():
            return _key_issued(state, data)
        case ApiKeyRevoked() | ApiKeyLimitsChanged():
            return _key_changed(state, data)
        case _:
            assert_never(data)


def _key_issued(state: StreamState, data: ApiKeyIssued) -> Ruling:
    if data.key_hash in state.key_hashes:
        return _reject(state, "this key is already registered")
    if data.key_id != key_id_for(data.key_hash):
        return _reject(state, "a key id must be derived from the key's hash", INVALID)
    if data.scope not in SCOPES:
        return _reject(state, f"unknown scope '{data.scope}'; one of: {_SCOPES}", INVALID)
    if not valid_limits(data.rate_limits):
        return _reject(state, BAD_LIMITS, INVALID)
    return Ruling(
        True, msgspec.structs.replace(state, key_hashes=state.key_hashes | {data.key_hash})
    )


def _key_changed(state: StreamState, data: ApiKeyRevoked | ApiKeyLimitsChanged) -> Ruling:
    """A change to a live key of the account."""
    if not any(key_id_for(h) == data.key_id for h in state.key_hashes):
        return _reject(state, f"the account has no key '{data.key_id}'")
    if data.key_id in state.revoked_keys:
        if isinstance(data, ApiKeyLimitsChanged):
            return _reject(state, f"key '{data.key_id}' is revoked; its limits no longer matter")
        return _reject(state, f"key '{data.key_id}' is already revoked")
    match data:
        case ApiKeyLimitsChanged():
            # A live key of the account may get any positive limits or none: its account's
            # admins decide. The state needs nothing: the read model holds the limits.
            if not valid_limits(data.rate_limits):
                return _reject(state, BAD_LIMITS, INVALID)
            return Ruling(True, state)
        case ApiKeyRevoked():
            revoked = state.revoked_keys | {data.key_id}
            return Ruling(True, msgspec.structs.replace(state, revoked_keys=revoked))
        case _:
            assert_never(data)
