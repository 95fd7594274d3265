"""The fold decides the same way on every replay: earlier wins, duplicates are ignored."""

from __future__ import annotations

import os
import subprocess
import sys

import msgspec

from intentml.domain.fold import (
    DeploymentState,
    Ruling,
    StreamState,
    VersionState,
    decide,
    decode_state,
    encode_state,
    judge,
)
from intentml.domain.keys import key_id_for
from intentml.domain.statuses import DeploymentStatus, VersionStatus
from intentml.domain.training_report import TrainingResult
from intentml.events.envelope import Envelope, encode, event_hash, make_event
from intentml.events.types import (
    ApiKeyIssued,
    BuildFailed,
    BuildProgressed,
    BuildStarted,
    DatasetUploaded,
    DeploymentActivated,
    DeploymentFailed,
    DeploymentRequested,
    DeploymentStopped,
    EventData,
    ModelCreated,
    ModelDeleted,
    ModelUpdated,
    TrainingRequest,
    UndeployRequested,
    VersionReady,
    VersionRequested,
    VersionTrained,
)


def ev(data: EventData, model: str = "churn") -> Envelope:
    return make_event(data, account_id="acme", model_name=model, actor="key_1")


def created(model_id: str = "m1", job: str = "j1") -> ModelCreated:
    return ModelCreated(
        model_id=model_id,
        name="Churn",
        intent="Predict churn",
        training=TrainingRequest(
            job_id=job,
            version=1,
            version_id="v-" + job,
            upload_id="u1",
            dataset_format="csv",
            intent="Predict churn",
            target="churned",
            target_reason="given",
        ),
    )


def trained(job: str = "j1") -> VersionTrained:
    return VersionTrained(
        job_id=job,
        version=1,
        artifact="a",
        result=TrainingResult(task="binary", metric_name="roc_auc", metric_value=0.9),
    )


def fold(events: list[Envelope]) -> tuple[StreamState, list[tuple[bool, str | None]]]:
    state, verdicts = StreamState(), []
    for e in events:
        d = decide(state, e)
        state = d.state
        verdicts.append((d.accepted, d.reason))
    return state, verdicts


def test_first_create_wins_and_second_is_rejected_with_reason() -> None:
    state, verdicts = fold([ev(created("m1", "j1")), ev(created("m2", "j2"))])
    assert verdicts[0] == (True, None)
    assert verdicts[1][0] is False
    assert "already exists" in (verdicts[1][1] or "")
    assert state.model_id == "m1"
    assert list(state.versions) == [1]


def test_build_lifecycle_reaches_ready() -> None:
    state, verdicts = fold(
        [
            ev(created()),
            ev(BuildStarted(job_id="j1", version=1)),
            ev(BuildProgressed(job_id="j1", version=1, progress=40, lines=["x"])),
            ev(trained()),
            ev(VersionReady(job_id="j1", version=1)),
        ]
    )
    assert all(a for a, _ in verdicts)
    assert state.versions[1].status == VersionStatus.READY


def test_duplicate_results_are_ignored_once_final() -> None:
    state, verdicts = fold(
        [
            ev(created()),
            ev(trained()),
            ev(trained()),
            ev(VersionReady(job_id="j1", version=1)),
            ev(VersionReady(job_id="j1", version=1)),
            ev(BuildFailed(job_id="j1", version=1, code="x", message="late")),
        ]
    )
    assert [a for a, _ in verdicts] == [True, True, False, True, False, False]
    assert state.versions[1].status == VersionStatus.READY


def test_each_start_is_an_attempt_and_a_redelivered_start_is_ignored() -> None:
    first = ev(BuildStarted(job_id="j1", version=1, worker="trainer-1"))
    # trainer-1 is lost mid-build; the redelivered request starts the build again.
    second = ev(BuildStarted(job_id="j1", version=1, worker="trainer-2"))
    progress = ev(BuildProgressed(job_id="j1", version=1, progress=10))
    state, verdicts = fold([ev(created()), first, progress, first, second, progress, ev(trained())])
    assert [a for a, _ in verdicts] == [True, True, True, False, True, True, True]
    assert verdicts[3][1] == "the build of v1 was already started by it"
    assert state.versions[1].starts == [first.event_id, second.event_id]
    # A version made before starts were recorded decodes with none.
    old = b'{"model_id":"m1","versions":{"1":{"job_id":"j1","status":"BUILDING"}}}'
    assert decode_state(old).versions[1] == VersionState(job_id="j1", status=VersionStatus.BUILDING)
    assert decode_state(old).versions[1].starts == []


def test_only_the_latest_attempts_progress_counts() -> None:
    def progress(attempt: str, pct: int) -> Envelope:
        return ev(BuildProgressed(job_id="j1", version=1, progress=pct, attempt_id=attempt))

    state, verdicts = fold(
        [
            ev(created()),
            ev(BuildStarted(job_id="j1", version=1, attempt_id="a1")),
            progress("a1", 40),
            # a1's worker stopped answering; the request went to another, which restarted.
            ev(BuildStarted(job_id="j1", version=1, attempt_id="a2")),
            progress("a2", 10),
            progress("a1", 60),  # a1's worker came back and reports on: not this build's
            progress("", 20),  # progress from before attempts were named still counts
            ev(BuildStarted(job_id="j1", version=1, attempt_id="a2")),  # redelivered
            ev(trained()),
        ]
    )
    assert [a for a, _ in verdicts] == [True, True, True, True, True, False, True, False, True]
    assert verdicts[5][1] == "progress of an earlier attempt at v1, since restarted"
    assert verdicts[7][1] == "the build of v1 was already started by it"
    assert state.versions[1].starts == ["a1", "a2"]


def test_a_start_after_the_version_was_trained_is_late() -> None:
    _, verdicts = fold(
        [
            ev(created()),
            ev(BuildStarted(job_id="j1", version=1, attempt_id="a1")),
            ev(trained()),
            # The request reached a trainer again before the result was projected.
            ev(BuildStarted(job_id="j1", version=1, attempt_id="a2")),
        ]
    )
    assert verdicts[3] == (False, "version v1 is already trained; late start ignored")


def test_ready_needs_a_trained_artifact() -> None:
    _, verdicts = fold([ev(created()), ev(VersionReady(job_id="j1", version=1))])
    assert verdicts[1][0] is False


def test_events_for_unknown_jobs_or_models_are_rejected() -> None:
    _, verdicts = fold([ev(BuildStarted(job_id="j1", version=1))])
    assert verdicts == [(False, "the model does not exist (deleted or never created)")]
    _, verdicts = fold([ev(created()), ev(BuildStarted(job_id="other", version=1))])
    assert verdicts[1][0] is False


def test_failure_is_final() -> None:
    state, verdicts = fold(
        [
            ev(created()),
            ev(BuildStarted(job_id="j1", version=1)),
            ev(BuildFailed(job_id="j1", version=1, code="too_few_rows", message="m")),
            ev(trained()),
        ]
    )
    assert [a for a, _ in verdicts] == [True, True, True, False]
    assert state.versions[1].status == VersionStatus.ERROR


def test_duplicate_key_and_upload_registrations_are_rejected() -> None:
    key = ApiKeyIssued(key_id=key_id_for("h"), key_hash="h", scope="admin")
    up = DatasetUploaded(
        upload_id="u", filename="f.csv", format="csv", rows=1, columns=[], size_bytes=1, sha256="s"
    )
    _, verdicts = fold([ev(key, ""), ev(key, ""), ev(up, ""), ev(up, "")])
    assert [a for a, _ in verdicts] == [True, False, True, False]


def test_state_round_trips_through_its_encoding() -> None:
    start = ev(BuildStarted(job_id="j1", version=1))
    state, _ = fold([ev(created()), start])
    again = decode_state(encode_state(state))
    assert again == state
    assert again.versions[1].status == VersionStatus.BUILDING
    assert again.versions[1].starts == [start.event_id]
    assert decode_state(None) == StreamState()
    assert StreamState().versions == {} and VersionStatus.PENDING == "PENDING"


# --- versions ---------------------------------------------------------------


def request(version: int, job: str, model_id: str = "m1") -> VersionRequested:
    return VersionRequested(
        model_id=model_id,
        training=TrainingRequest(
            job_id=job,
            version=version,
            version_id="v-" + job,
            upload_id="u1",
            dataset_format="csv",
            intent="Predict churn",
            target="churned",
            target_reason="given",
        ),
    )


def ready_v1(model_id: str = "m1", job: str = "j1") -> list[Envelope]:
    return [ev(created(model_id, job)), ev(trained(job)), ev(VersionReady(job_id=job, version=1))]


def test_a_requested_version_must_be_the_next_one() -> None:
    state, verdicts = fold(
        [
            ev(created()),
            ev(request(2, "j2")),
            ev(request(2, "j2b")),  # a racer that read the same latest version
            ev(request(4, "j4")),  # skips v3
            ev(request(3, "j3")),
        ]
    )
    assert [a for a, _ in verdicts] == [True, True, False, False, True]
    assert "the next version is v3" in (verdicts[2][1] or "")
    assert "the next version is v3" in (verdicts[3][1] or "")
    assert {v: s.job_id for v, s in state.versions.items()} == {1: "j1", 2: "j2", 3: "j3"}
    assert all(s.status == VersionStatus.PENDING for s in state.versions.values())


def test_a_version_request_needs_a_live_model() -> None:
    _, verdicts = fold([ev(request(1, "j1"))])
    assert verdicts == [(False, "the model does not exist (deleted or never created)")]


def test_results_of_a_rejected_request_are_rejected() -> None:
    start = ev(BuildStarted(job_id="j2", version=2))
    state, verdicts = fold(
        [
            ev(created()),
            ev(request(2, "j2")),
            ev(request(2, "loser")),
            ev(BuildStarted(job_id="loser", version=2)),
            start,
        ]
    )
    assert [a for a, _ in verdicts] == [True, True, False, False, True]
    assert state.versions[2] == VersionState(
        job_id="j2", status=VersionStatus.BUILDING, starts=[start.event_id]
    )


# --- deployments ------------------------------------------------------------


def deploy(dep: str, version: int = 1, env: str = "production", model_id: str = "m1") -> Envelope:
    return ev(
        DeploymentRequested(model_id=model_id, deployment_id=dep, version=version, environment=env)
    )


def activated(dep: str, version: int = 1) -> Envelope:
    return ev(DeploymentActivated(deployment_id=dep, version=version))


def test_only_ready_versions_can_be_deployed() -> None:
    state, verdicts = fold(
        [
            ev(created()),
            deploy("d0"),  # v1 still PENDING
            ev(trained()),
            deploy("d1"),  # trained, not yet READY
            ev(VersionReady(job_id="j1", version=1)),
            deploy("d2", version=2),  # no such version
            deploy("d3"),
            deploy("d3"),  # the same deployment twice
        ]
    )
    assert [a for a, _ in verdicts] == [True, False, True, False, True, False, True, False]
    assert "v1 is PENDING, not READY" in (verdicts[1][1] or "")
    assert "v1 is BUILDING, not READY" in (verdicts[3][1] or "")
    assert "v2 is missing" in (verdicts[5][1] or "")
    assert "already exists" in (verdicts[7][1] or "")
    assert state.deployments == {"d3": DeploymentState("production", 1, DeploymentStatus.DEPLOYING)}


def test_failed_builds_cannot_be_deployed() -> None:
    _, verdicts = fold(
        [
            ev(created()),
            ev(BuildFailed(job_id="j1", version=1, code="target_single_class", message="m")),
            deploy("d1"),
        ]
    )
    assert verdicts[2] == (
        False,
        "version v1 is ERROR, not READY; only READY versions can be deployed",
    )


def test_activation_replaces_the_active_deployment_of_the_same_environment() -> None:
    requested = [
        *ready_v1(),
        deploy("prod1"),
        activated("prod1"),
        deploy("stage1", env="staging"),
        activated("stage1"),
        deploy("prod2"),
    ]
    state, verdicts = fold(requested)
    assert all(a for a, _ in verdicts)
    # until the new one is ACTIVE, the old one keeps serving
    assert state.deployments["prod1"].status == DeploymentStatus.ACTIVE
    assert state.deployments["prod2"].status == DeploymentStatus.DEPLOYING
    state, verdicts = fold([*requested, activated("prod2"), activated("prod2")])
    assert [a for a, _ in verdicts][-2:] == [True, False]  # activated once only
    assert state.deployments == {
        "stage1": DeploymentState("staging", 1, DeploymentStatus.ACTIVE),
        "prod2": DeploymentState("production", 1, DeploymentStatus.ACTIVE),
    }


def test_a_failed_deployment_leaves_and_only_a_deploying_one_can_fail() -> None:
    failed = DeploymentFailed(deployment_id="d1", message="no artifact")
    state, verdicts = fold(
        [
            *ready_v1(),
            deploy("d1"),
            ev(failed),
            activated("d1"),
            deploy("d2"),
            activated("d2"),
            ev(DeploymentFailed(deployment_id="d2", message="late")),
        ]
    )
    assert [a for a, _ in verdicts][3:] == [True, True, False, True, True, False]
    assert "is not live" in (verdicts[5][1] or "")
    assert "d2 is ACTIVE" in (verdicts[8][1] or "")
    assert state.deployments == {"d2": DeploymentState("production", 1, DeploymentStatus.ACTIVE)}


def test_undeploy_then_stop() -> None:
    state, verdicts = fold(
        [
            *ready_v1(),
            deploy("d1"),
            ev(DeploymentStopped(deployment_id="d1")),  # not being undeployed
            activated("d1"),
            ev(UndeployRequested(deployment_id="d1")),
            ev(UndeployRequested(deployment_id="d1")),  # a racing second undeploy
        ]
    )
    assert [a for a, _ in verdicts][3:] == [True, False, True, True, False]
    assert "was not being undeployed" in (verdicts[4][1] or "")
    assert "already being undeployed" in (verdicts[7][1] or "")
    assert state.deployments["d1"].status == DeploymentStatus.UNDEPLOYING
    stopped = ev(DeploymentStopped(deployment_id="d1"))
    after = decide(state, stopped)
    assert after.accepted and after.state.deployments == {}
    for late in (stopped, ev(UndeployRequested(deployment_id="d1")), activated("d1")):
        verdict = decide(after.state, late)
        assert not verdict.accepted and "not live" in (verdict.reason or "")


def test_undeploying_while_deploying_wins_over_a_late_activation() -> None:
    state, verdicts = fold(
        [
            *ready_v1(),
            deploy("d1"),
            ev(UndeployRequested(deployment_id="d1")),
            activated("d1"),
            ev(DeploymentFailed(deployment_id="d1", message="late")),
            ev(DeploymentStopped(deployment_id="d1")),
        ]
    )
    assert [a for a, _ in verdicts][3:] == [True, True, False, False, True]
    assert state.deployments == {}


def test_an_undeploying_deployment_is_not_replaced_and_does_not_block_activation() -> None:
    state, verdicts = fold(
        [
            *ready_v1(),
            deploy("d1"),
            activated("d1"),
            ev(UndeployRequested(deployment_id="d1")),
            deploy("d2"),
            activated("d2"),
        ]
    )
    assert all(a for a, _ in verdicts)
    assert state.deployments == {
        "d1": DeploymentState("production", 1, DeploymentStatus.UNDEPLOYING),
        "d2": DeploymentState("production", 1, DeploymentStatus.ACTIVE),
    }


# --- deletion ---------------------------------------------------------------


def test_model_deleted_resets_versions_and_deployments() -> None:
    state, verdicts = fold(
        [
            *ready_v1(),
            deploy("d1"),
            activated("d1"),
            ev(request(2, "j2")),
            ev(ModelDeleted(model_id="m1")),
        ]
    )
    assert all(a for a, _ in verdicts)
    assert state == StreamState()
    # late results and commands of the deleted model find nothing
    for late in (
        ev(BuildStarted(job_id="j2", version=2)),
        ev(trained("j2")),
        ev(UndeployRequested(deployment_id="d1")),
        ev(DeploymentStopped(deployment_id="d1")),
        activated("d1"),
        ev(ModelDeleted(model_id="m1")),
    ):
        verdict = decide(state, late)
        assert not verdict.accepted and "does not exist" in (verdict.reason or "")


def test_commands_naming_an_earlier_model_of_the_name_are_rejected() -> None:
    events = [
        *ready_v1("m1", "j1"),
        deploy("d1", model_id="m1"),
        activated("d1"),
        ev(ModelDeleted(model_id="m1")),
        *ready_v1("m2", "k1"),
    ]
    state, verdicts = fold(events)
    assert all(a for a, _ in verdicts)
    assert state.model_id == "m2" and state.deployments == {}
    assert state.versions == {
        1: VersionState(job_id="k1", status=VersionStatus.READY, trained=True)
    }
    # checked against m1 by the API, appended after m2 was created
    for stale in (
        request(2, "j2", model_id="m1"),
        DeploymentRequested(model_id="m1", deployment_id="d2", version=1),
        ModelUpdated(model_id="m1", name="x"),
        ModelDeleted(model_id="m1"),
    ):
        verdict = decide(state, ev(stale))
        assert not verdict.accepted, stale
        assert verdict.reason == "the command is about an earlier model of this name"
    # m1's deployment is gone with it; its worker results do not touch m2
    for late in (activated("d1"), ev(DeploymentStopped(deployment_id="d1"))):
        assert not decide(state, late).accepted
    assert not decide(state, ev(VersionReady(job_id="j1", version=1))).accepted
    # the same commands naming m2 apply
    assert decide(state, ev(request(2, "k2", model_id="m2"))).accepted
    assert decide(state, deploy("d2", model_id="m2")).accepted


def test_deployment_state_round_trips_through_its_encoding() -> None:
    state, _ = fold([*ready_v1(), deploy("d1"), activated("d1"), deploy("d2", env="staging")])
    assert decode_state(encode_state(state)) == state


_ENCODE_IN_A_FRESH_PROCESS = """
from intentml.domain.fold import StreamState, encode_state
ids = frozenset(f"id{i}" for i in range(50))
print(encode_state(StreamState(key_hashes=ids, upload_ids=ids, revoked_keys=ids)).hex())
"""


def test_a_state_encodes_to_the_same_bytes_in_every_process() -> None:
    """A set's order follows string hashing, which is salted per process; the stored
    state must not, or a rebuild would store other bytes than the live projector."""
    encodings = {
        subprocess.run(
            [sys.executable, "-c", _ENCODE_IN_A_FRESH_PROCESS],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(encodings) == 1


def chained(events: list[Envelope]) -> list[tuple[Envelope, str]]:
    """The events as an appender chains them: each links to the previous one's bytes."""
    out: list[tuple[Envelope, str]] = []
    prev = ""
    for e in events:
        linked = msgspec.structs.replace(e, prev_hash=prev)
        prev = event_hash(encode(linked))
        out.append((linked, prev))
    return out


def judged(events: list[tuple[Envelope, str]], state: StreamState | None = None) -> list[Ruling]:
    state = state or StreamState()
    verdicts = []
    for env, digest in events:
        verdicts.append(judge(state, env, digest))
        state = verdicts[-1].state
    return verdicts


def test_a_re_sent_copy_takes_no_effect_and_the_chain_goes_on() -> None:
    create, update, delete, again = chained(
        [
            ev(created()),
            ev(ModelUpdated(model_id="m1", tags=["a"])),
            ev(ModelDeleted(model_id="m1")),
            ev(created("m2", "j2")),
        ]
    )
    verdicts = judged([create, create, update, create, update, delete, again])
    assert [v.accepted for v in verdicts] == [True, False, True, False, False, True, True]
    assert "re-sent copy of the stream's last event" in (verdicts[1].reason or "")
    assert "re-sent copy of an earlier event" in (verdicts[3].reason or "")
    # the copies left the head where it was; a delete empties the state, not the chain
    assert verdicts[2].state.head == update[1]
    assert verdicts[5].state.model_id is None and verdicts[5].state.head == delete[1]
    assert verdicts[6].state.model_id == "m2"


def test_a_rejected_command_still_moves_the_head() -> None:
    first, second, update = chained(
        [ev(created("m1", "j1")), ev(created("m2", "j2")), ev(ModelUpdated(model_id="m1"))]
    )
    verdicts = judged([first, second, update])
    assert [v.accepted for v in verdicts] == [True, False, True]
    assert verdicts[1].state.head == second[1]


def test_a_state_stored_before_the_chain_rule_takes_the_next_event_on_trust() -> None:
    legacy = decode_state(
        encode_state(StreamState(model_id="m1", versions={1: VersionState("j1")}))
    )
    assert legacy.head is None
    (update,) = chained([ev(ModelUpdated(model_id="m1"))])
    linked_elsewhere = msgspec.structs.replace(update[0], prev_hash="f" * 64)
    (verdict,) = judged([(linked_elsewhere, update[1])], legacy)
    assert verdict.accepted and verdict.state.head == update[1]
