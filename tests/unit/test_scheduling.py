"""Which queued build runs next (`intentml.domain.scheduling`): bounded, fair, small first."""

from __future__ import annotations

from intentml.domain.scheduling import (
    Limits,
    QueuedBuild,
    RunningBuild,
    pick,
    start_order,
)

LIMITS = Limits(concurrency=2, per_account=2, small_cells=100_000)
SMALL, BIG = 40_000, 9_000_000


def _q(job: str, account: str, cells: int, seq: int) -> QueuedBuild:
    return QueuedBuild(job_id=job, account_id=account, cells=cells, seq=seq)


def _r(job: str, account: str, cells: int) -> RunningBuild:
    return RunningBuild(job_id=job, account_id=account, cells=cells)


def test_no_free_slot_no_start() -> None:
    running = [_r("a", "x", SMALL), _r("b", "y", SMALL)]
    assert pick([_q("c", "z", SMALL, 1)], running, LIMITS) is None


def test_a_big_build_leaves_the_small_lane_free() -> None:
    running = [_r("big1", "x", BIG)]
    queue = [_q("big2", "y", BIG, 1), _q("small", "z", SMALL, 2)]
    assert pick(queue, running, LIMITS) == queue[1]
    assert pick(queue[:1], running, LIMITS) is None
    # ... but a stream of small builds never starves a big one: it gets the other slot.
    smalls = [_r("s1", "x", SMALL)]
    chosen = pick([_q("big", "y", BIG, 1), _q("s2", "z", SMALL, 2)], smalls, LIMITS)
    assert chosen is not None and chosen.job_id == "big"


def test_accounts_take_turns_and_each_has_a_ceiling() -> None:
    limits = Limits(concurrency=4, per_account=2, small_cells=100_000)
    running = [_r("a1", "busy", SMALL)]
    queue = [_q(f"a{i}", "busy", SMALL, i) for i in range(2, 6)] + [_q("b1", "quiet", SMALL, 9)]
    # The quiet account's build goes first although it was queued last.
    assert pick(queue, running, limits) == queue[-1]
    full = [_r("a1", "busy", SMALL), _r("a0", "busy", SMALL)]
    assert pick(queue[:-1], full, limits) is None


def test_the_start_order_gives_positions_and_reasons() -> None:
    running = [_r("big1", "x", BIG), _r("s0", "x", SMALL)]
    queue = [_q("big2", "y", BIG, 1), _q("s1", "x", SMALL, 2), _q("s2", "z", SMALL, 3)]
    order = start_order(queue, running, LIMITS)
    # The oldest running build (big1) ends first, freeing the big slot for big2; then s0
    # ends, and the account's ceiling no longer holds s1 back, queued before s2.
    assert [(w.job_id, w.position) for w in order] == [("big2", 1), ("s1", 2), ("s2", 3)]
    reasons = {w.job_id: w.reason for w in order}
    assert reasons["s2"] == "queued: all 2 build slots are busy"
    assert reasons["s1"].startswith("queued: this account already has 2 build(s) running")
    assert start_order([], running, LIMITS) == []


def test_one_slot_runs_one_build_at_a_time_whatever_its_size() -> None:
    one = Limits(concurrency=1, per_account=1, small_cells=100_000)
    assert pick([_q("big", "x", BIG, 1)], [], one) is not None
    order = start_order([_q("b", "x", BIG, 1), _q("s", "y", SMALL, 2)], [_r("r", "z", BIG)], one)
    assert [w.job_id for w in order] == ["b", "s"]
