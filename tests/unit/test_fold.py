"""The fold decides the same way on every replay: earlier wins, duplicates are ignored."""

from __future__ import annotations

from intentml.domain.fold import (
    BUILDING,
    ERROR,
    PENDING,
    READY,
    StreamState,
    decide,
    decode_state,
    encode_state,
)
from intentml.events.envelope import Envelope, make_event
from intentml.events.types import (
    ApiKeyIssued,
    BuildFailed,
    BuildProgressed,
    BuildStarted,
    DatasetUploaded,
    EventData,
    ModelCreated,
    TrainingRequest,
    VersionReady,
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
        job_id=job, version=1, artifact="a", task="binary", metric_name="roc_auc", metric_value=0.9
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
    assert state.versions[1].status == READY


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
    assert state.versions[1].status == READY


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
    assert state.versions[1].status == ERROR


def test_duplicate_key_and_upload_registrations_are_rejected() -> None:
    key = ApiKeyIssued(key_id="k", key_hash="h", scope="admin")
    up = DatasetUploaded(
        upload_id="u", filename="f.csv", format="csv", rows=1, columns=[], size_bytes=1, sha256="s"
    )
    _, verdicts = fold([ev(key, ""), ev(key, ""), ev(up, ""), ev(up, "")])
    assert [a for a, _ in verdicts] == [True, False, True, False]


def test_state_round_trips_through_its_encoding() -> None:
    state, _ = fold([ev(created()), ev(BuildStarted(job_id="j1", version=1))])
    again = decode_state(encode_state(state))
    assert again == state
    assert again.versions[1].status == BUILDING
    assert decode_state(None) == StreamState()
    assert StreamState().versions == {} and PENDING == "PENDING"
