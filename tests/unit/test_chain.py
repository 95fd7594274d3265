"""Hash-chain verification over exported events: intact, and tampered in each way."""

from __future__ import annotations

import msgspec
import pytest

from intentml.events.chain import ChainRecord, Report, verify_chains
from intentml.events.envelope import Envelope, decode, encode, event_hash, make_event
from intentml.events.export import BadExportLine, export_line, read_export
from intentml.events.types import BuildStarted, DeploymentStopped, ModelUpdated


def chained(events: list[Envelope]) -> list[bytes]:
    """The stored bytes of `events`, each chained to the previous one of its stream, as
    the log's appender does."""
    heads: dict[str, str] = {}
    values = []
    for env in events:
        value = encode(msgspec.structs.replace(env, prev_hash=heads.get(env.stream, "")))
        heads[env.stream] = event_hash(value)
        values.append(value)
    return values


def history() -> list[bytes]:
    """Two models' streams and an account stream, interleaved as in one partition."""
    events = []
    for i in range(6):
        events.append(
            make_event(
                ModelUpdated(model_id="m1", description=f"d{i}"),
                account_id="a",
                model_name="churn",
                actor="key_1",
            )
        )
        events.append(
            make_event(
                BuildStarted(job_id="j", version=i + 1),
                account_id="a",
                model_name="fraud",
                actor="trainer",
            )
        )
    events.insert(
        3, make_event(DeploymentStopped(deployment_id="d"), account_id="b", model_name="churn")
    )
    return chained(events)


def export(values: list[bytes]) -> list[bytes]:
    return [
        export_line(partition=0, offset=i, hash=event_hash(v), accepted=True, reason=None, value=v)
        for i, v in enumerate(values)
    ]


def verify(lines: list[bytes], from_genesis: bool = True) -> Report:
    return verify_chains(read_export(lines), from_genesis=from_genesis)


def event_id(line: bytes) -> str:
    return decode(next(read_export([line])).value).event_id


def test_an_untouched_export_is_intact() -> None:
    report = verify_chains(read_export(export(history())))
    assert report.intact and report.events == 13 and report.streams == 3


def test_the_archive_without_positions_or_hashes_is_intact() -> None:
    # the broker gives bytes only: the chain is checked from the bytes alone
    assert verify_chains(ChainRecord(v) for v in history()).intact


def test_an_altered_event_is_named() -> None:
    lines = export(history())
    lines[5] = lines[5].replace(b'"description":"d2"', b'"description":"d9"')
    report = verify_chains(read_export(lines))
    assert report.problem is not None
    assert report.problem.kind == "altered"
    assert report.problem.event_id == event_id(lines[5])
    assert report.problem.offset == 5


def test_an_altered_event_with_a_forged_hash_breaks_the_next_link() -> None:
    values = history()
    forged = values[5].replace(b'"description":"d2"', b'"description":"d9"')
    lines = export([*values[:5], forged, *values[6:]])  # its hash recomputed to match
    report = verify_chains(read_export(lines))
    assert report.problem is not None and report.problem.kind == "removed"
    # the next event of the stream (offset 7: "churn" again) names the forged one
    assert report.problem.offset == 7
    assert event_id(lines[5]) in report.problem.message


def positions(values: list[bytes], model: str) -> list[int]:
    """Where the events of account `a`'s model stream sit."""
    return [
        i
        for i, v in enumerate(values)
        if decode(v).account_id == "a" and decode(v).model_name == model
    ]


def test_a_removed_event_is_found_at_the_gap() -> None:
    values = history()
    churn = positions(values, "churn")
    lines = export(values)
    after = lines[churn[3]]
    del lines[churn[2]]
    report = verify_chains(read_export(lines))
    assert report.problem is not None and report.problem.kind == "removed"
    assert report.problem.event_id == event_id(after)
    assert "missing before" in report.problem.message


def forged_copy(value: bytes, event_id: str, prev_of: bytes | None = None) -> bytes:
    """An event copied with a new id (and, given `prev_of`, chained to that one)."""
    env = msgspec.structs.replace(decode(value), event_id=event_id)
    if prev_of is not None:
        env = msgspec.structs.replace(env, prev_hash=event_hash(prev_of))
    return encode(env)


def test_an_inserted_event_is_named() -> None:
    values = history()
    fraud = positions(values, "fraud")
    # a forger copies an event of the stream under a new id, right after the original
    fake = forged_copy(values[fraud[1]], "forged-copy")
    values.insert(fraud[1] + 1, fake)
    # positions are renumbered, so the order check does not give it away
    report = verify_chains(read_export(export(values)))
    assert report.problem is not None and report.problem.kind == "inserted"
    assert report.problem.event_id == "forged-copy"


def test_an_inserted_event_chained_to_the_head_is_named_by_its_successor() -> None:
    values = history()
    churn = positions(values, "churn")
    # chained properly to the event before it: the next genuine event links past it
    fake = forged_copy(values[churn[2]], "forged-link", prev_of=values[churn[2]])
    values.insert(churn[2] + 1, fake)
    report = verify_chains(read_export(export(values)))
    assert report.problem is not None and report.problem.kind == "inserted"
    assert report.problem.event_id == "forged-link"
    assert report.problem.offset == churn[2] + 1
    assert "link past it" in report.problem.message


def test_an_event_forking_the_end_of_its_stream_is_inserted() -> None:
    values = history()
    last = positions(values, "churn")[-1]
    # linked to the same predecessor as the stream's last event: a second successor
    # (one chained to the head itself is undetectable without the head: see the README)
    fork = forged_copy(values[last], "forked")
    report = verify_chains(read_export(export([*values, fork])))
    assert report.problem is not None and report.problem.kind == "inserted"
    assert report.problem.event_id == "forked"


def test_a_re_sent_copy_is_counted_not_a_break() -> None:
    # An appender that lost the broker's acknowledgement produces the same bytes again:
    # the fold ignores the copy, so verification reports it without calling it tampering.
    values = history()
    churn = positions(values, "churn")
    intact = verify_chains(read_export(export(values)))
    right_after = [*values[: churn[1] + 1], values[churn[1]], *values[churn[1] + 1 :]]
    # a stalled appender's copy can also land after later events of its stream
    late = [*values, values[churn[1]]]
    for copied in (right_after, late):
        report = verify_chains(read_export(export(copied)))
        assert report.intact, report.problem
        assert report.copies == 1
        assert report.events == intact.events


def test_a_copy_under_a_new_id_is_still_inserted() -> None:
    values = history()
    churn = positions(values, "churn")
    fake = forged_copy(values[churn[1]], "forged-again")
    report = verify_chains(read_export(export([*values, fake])))
    assert report.problem is not None and report.problem.kind == "inserted"
    assert report.problem.event_id == "forged-again"
    assert report.copies == 0


def test_out_of_order_positions_are_inserted() -> None:
    lines = export(history())
    lines[2], lines[3] = lines[3], lines[2]
    report = verify_chains(read_export(lines))
    assert report.problem is not None and report.problem.kind == "inserted"
    assert "out of log order" in report.problem.message


def test_a_cut_export_needs_partial() -> None:
    lines = export(history())[4:]
    cut = verify(lines)
    assert cut.problem is not None and cut.problem.kind == "removed"
    assert verify(lines, from_genesis=False).intact


def test_a_line_that_is_not_an_event() -> None:
    with pytest.raises(BadExportLine, match="line 2"):
        list(read_export([export(history())[0], b'{"partition": 0}\n']))
    lines = export(history())
    lines[1] = lines[1].replace(b'"event":{', b'"event":{"x":')
    with pytest.raises(BadExportLine):
        list(read_export(lines))
