"""Cancelling a build: the fold's rules, the rows it writes, the audit's words (pure).

A cancel is accepted only while the version waits or builds and is not trained yet;
a second one for the same build is a conflict. After it, the build may only end: a
start, progress or result of it is rejected, `BuildCancelled` makes the version
CANCELLED (final), and anything arriving after that is a duplicate.
"""

from __future__ import annotations

from intentml.domain.audit import event_version, summarize
from intentml.domain.fold import CONFLICT, StreamState, decide, decode_state, encode_state
from intentml.domain.statuses import FINAL_VERSION_STATUSES, VersionStatus
from intentml.events.envelope import Envelope
from intentml.events.types import (
    BuildCancelled,
    BuildCancelRequested,
    BuildFailed,
    BuildProgressed,
    BuildStarted,
    VersionReady,
)
from projections.queries import COLUMNS
from tests.unit import test_fold as f
from tests.unit import test_rows as r


def cancel(job: str = "j1", version: int = 1, model_id: str = "m1") -> BuildCancelRequested:
    return BuildCancelRequested(model_id=model_id, job_id=job, version=version, reason="wrong data")


def cancelled(job: str = "j1", version: int = 1) -> BuildCancelled:
    return BuildCancelled(job_id=job, version=version, reason="cancelled by key_1: wrong data")


def verdicts_of(events: list[Envelope]) -> tuple[StreamState, list[tuple[bool, str | None]]]:
    return f.fold(events)


def test_cancelled_is_a_final_status() -> None:
    assert VersionStatus.CANCELLED in FINAL_VERSION_STATUSES


def test_a_pending_build_is_cancelled_and_never_starts() -> None:
    state, verdicts = verdicts_of(
        [
            f.ev(f.created()),
            f.ev(cancel()),
            f.ev(BuildStarted(job_id="j1", version=1, attempt_id="a1")),
            f.ev(cancelled()),
        ]
    )
    assert [a for a, _ in verdicts] == [True, True, False, True]
    assert verdicts[2][1] == "the build of v1 is being cancelled; ignored"
    assert state.versions[1].status == VersionStatus.CANCELLED
    assert state.versions[1].starts == []


def test_a_running_build_is_cancelled_and_its_late_reports_are_dropped() -> None:
    state, verdicts = verdicts_of(
        [
            f.ev(f.created()),
            f.ev(BuildStarted(job_id="j1", version=1, attempt_id="a1")),
            f.ev(cancel()),
            # the process had more to say before it was killed, or even finished
            f.ev(BuildProgressed(job_id="j1", version=1, progress=40, attempt_id="a1")),
            f.ev(f.trained()),
            f.ev(cancelled()),
            # after the verdict: duplicates of a final version
            f.ev(f.trained()),
            f.ev(cancelled()),
            f.ev(BuildFailed(job_id="j1", version=1, code="x", message="late")),
        ]
    )
    assert [a for a, _ in verdicts] == [True, True, True, False, False, True, False, False, False]
    assert verdicts[4][1] == "the build of v1 is being cancelled; ignored"
    assert verdicts[7][1] == "version v1 is already CANCELLED; duplicate result ignored"
    assert state.versions[1].status == VersionStatus.CANCELLED
    assert not state.versions[1].trained


def test_a_failure_before_the_cancel_took_effect_still_counts() -> None:
    state, verdicts = verdicts_of(
        [
            f.ev(f.created()),
            f.ev(cancel()),
            f.ev(BuildFailed(job_id="j1", version=1, code="invalid_request", message="m")),
            f.ev(cancelled()),
        ]
    )
    assert [a for a, _ in verdicts] == [True, True, True, False]
    assert state.versions[1].status == VersionStatus.ERROR


def test_a_final_or_trained_version_has_nothing_to_cancel() -> None:
    ready = [
        f.ev(f.created()),
        f.ev(f.trained()),
        f.ev(VersionReady(job_id="j1", version=1)),
    ]
    state, _ = verdicts_of(ready)
    ruling = decide(state, f.ev(cancel()))
    assert (ruling.accepted, ruling.kind) == (False, CONFLICT)
    assert ruling.reason == "v1 is already READY; there is nothing to cancel"

    state, _ = verdicts_of(ready[:2])  # trained, its serving check under way
    ruling = decide(state, f.ev(cancel()))
    assert (ruling.accepted, ruling.kind) == (False, CONFLICT)
    assert ruling.reason == (
        "v1 is already trained (its serving check is under way); there is nothing to cancel"
    )


def test_a_second_cancel_of_the_same_build_is_a_conflict() -> None:
    state, verdicts = verdicts_of([f.ev(f.created()), f.ev(cancel()), f.ev(cancel())])
    assert [a for a, _ in verdicts] == [True, True, False]
    assert verdicts[2][1] == (
        "the cancel of v1 was already requested; it becomes CANCELLED once the trainer has "
        "stopped its build"
    )
    assert decide(state, f.ev(cancel())).kind == CONFLICT


def test_a_cancel_names_an_existing_build_of_the_same_model() -> None:
    _, verdicts = verdicts_of(
        [
            f.ev(f.created()),
            f.ev(cancel(job="other")),
            f.ev(cancel(version=2)),
            f.ev(cancel(model_id="m0")),
        ]
    )
    assert verdicts[1] == (False, "no build job other for version v1")
    assert verdicts[2] == (False, "no build job j1 for version v2")
    assert verdicts[3] == (False, "the command is about an earlier model of this name")
    _, verdicts = verdicts_of([f.ev(cancel())])
    assert verdicts == [(False, "the model does not exist (deleted or never created)")]


def test_only_a_requested_cancel_can_be_reported() -> None:
    state, verdicts = verdicts_of([f.ev(f.created()), f.ev(cancelled())])
    assert verdicts[1] == (False, "no cancel of v1 was requested")
    assert state.versions[1].status == VersionStatus.PENDING


def test_the_cancel_mark_survives_the_stored_state() -> None:
    state, _ = verdicts_of([f.ev(f.created()), f.ev(cancel())])
    assert decode_state(encode_state(state)) == state
    assert decode_state(encode_state(state)).versions[1].cancel_requested


# --- the read models -------------------------------------------------------------


def test_a_cancel_is_logged_and_the_version_ends_cancelled_with_who_and_why() -> None:
    log = r.Log()
    log.apply(r.created())
    log.apply(BuildStarted(job_id="j1", version=1, worker="trainer-1"))
    asked = log.apply(cancel())
    version = log.tables.versions[("m1", 1)]
    assert version["status"] == VersionStatus.BUILDING  # until the trainer stopped it
    assert (version["cancel_requested_at"], version["cancel_requested_by"]) == (
        asked.occurred_at,
        r.ACTOR,
    )
    assert version["cancel_reason"] == "wrong data"
    assert tuple(version) == COLUMNS["versions"]
    done = log.apply(cancelled())
    assert version["status"] == VersionStatus.CANCELLED
    assert (version["error_code"], version["error_message"]) == (
        "cancelled",
        "cancelled by key_1: wrong data",
    )
    assert version["updated_at"] == done.occurred_at
    lines = [line["message"] for line in r.logs(log.tables)[-2:]]
    assert lines == [
        "cancel requested by key_1: wrong data",
        "build cancelled: cancelled by key_1: wrong data",
    ]
    assert log.tables.live_model(r.ACCOUNT, r.MODEL) is not None


def test_cancel_events_name_the_version_rows_they_change() -> None:
    wanted = r.Wanted()
    for data in (cancel(job="j7"), cancelled(job="j8")):
        wanted.add(f.ev(data))
    assert wanted.job_ids == {"j7", "j8"}


def test_the_audit_says_what_was_cancelled() -> None:
    assert summarize(f.ev(cancel())) == "cancel of the build of v1 requested: 'wrong data'"
    assert summarize(f.ev(cancelled())) == ("build of v1 cancelled: cancelled by key_1: wrong data")
    assert event_version(f.ev(cancel(version=3))) == 3
