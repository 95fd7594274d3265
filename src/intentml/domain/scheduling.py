"""Which queued build runs next: bounded, fair across accounts, small builds first. Pure.

The rules, in order:

1. At most `concurrency` builds run at once, and at most `per_account` of one account.
2. Fair share: the next build is the oldest one of the account with the fewest builds
   running (ties: the account whose oldest build has waited longest). So one account's
   twenty builds take turns with another account's one, instead of going first.
3. A small lane: big builds (more than `small_cells` cells, rows times columns) hold at most
   `concurrency - 1` slots, so one slot is always the small builds'. Small builds (most
   builds: a few seconds each) then never wait behind big ones (minutes each), and a
   big one still gets every slot but that one, whatever the stream of small ones.
   We chose a lane over ordering by size: an order by size lets a stream of small builds
   starve a big one forever, and a lane needs no estimate of how long a build takes,
   only of its size, which the upload's row and column counts give at once.

`start_order` plays the rules forward to say where each waiting build stands (its
`queue_position`) and why it waits.
"""

from __future__ import annotations

import msgspec


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """How many builds may run: in all, per account, and where "small" ends."""

    concurrency: int
    per_account: int
    small_cells: int


class QueuedBuild(msgspec.Struct, frozen=True, kw_only=True):
    """A build waiting for a slot."""

    job_id: str
    account_id: str
    #: Rows times columns of its dataset.
    cells: int
    #: Arrival order (smaller: queued earlier).
    seq: int


class RunningBuild(msgspec.Struct, frozen=True, kw_only=True):
    """A build holding a slot."""

    job_id: str
    account_id: str
    cells: int


class Waiting(msgspec.Struct, frozen=True, kw_only=True):
    """Where a queued build stands: 1 starts next."""

    job_id: str
    position: int
    reason: str


def is_small(cells: int, limits: Limits) -> bool:
    """Whether a build of `cells` cells goes in the small lane."""
    return cells <= limits.small_cells


def big_slots(limits: Limits) -> int:
    """How many big builds may run at once: all slots but the small lane's."""
    return max(1, limits.concurrency - 1)


def pick(
    queue: list[QueuedBuild], running: list[RunningBuild], limits: Limits
) -> QueuedBuild | None:
    """The build to start now, or None (no free slot, or nothing may take it)."""
    if len(running) >= limits.concurrency:
        return None
    per_account: dict[str, int] = {}
    for slot in running:
        per_account[slot.account_id] = per_account.get(slot.account_id, 0) + 1
    bigs = sum(1 for slot in running if not is_small(slot.cells, limits))
    best: QueuedBuild | None = None
    best_key: tuple[int, int] | None = None
    for build in queue:
        if per_account.get(build.account_id, 0) >= limits.per_account:
            continue
        if not is_small(build.cells, limits) and bigs >= big_slots(limits):
            continue  # the small lane's slot
        key = (per_account.get(build.account_id, 0), build.seq)
        if best_key is None or key < best_key:
            best, best_key = build, key
    return best


def start_order(
    queue: list[QueuedBuild], running: list[RunningBuild], limits: Limits
) -> list[Waiting]:
    """Every queued build with its position, were the running builds to end in turn
    (oldest first) and nothing new arrive; and why it is not running now."""
    waiting = list(queue)
    slots = list(running)
    order: list[Waiting] = []
    while waiting:
        chosen = pick(waiting, slots, limits)
        if chosen is None:
            if not slots:
                break  # cannot happen with positive limits; never loop forever
            slots.pop(0)
            continue
        order.append(Waiting(job_id=chosen.job_id, position=len(order) + 1, reason=""))
        waiting.remove(chosen)
        slots.append(
            RunningBuild(job_id=chosen.job_id, account_id=chosen.account_id, cells=chosen.cells)
        )
    return [
        msgspec.structs.replace(w, reason=_why_waiting(_by_id(queue, w.job_id), running, limits))
        for w in order
    ]


def _by_id(queue: list[QueuedBuild], job_id: str) -> QueuedBuild:
    return next(b for b in queue if b.job_id == job_id)


def _why_waiting(build: QueuedBuild, running: list[RunningBuild], limits: Limits) -> str:
    mine = sum(1 for r in running if r.account_id == build.account_id)
    if mine >= limits.per_account:
        return (
            f"queued: this account already has {mine} build(s) running, the most it may "
            "have at once"
        )
    if len(running) >= limits.concurrency:
        return f"queued: all {limits.concurrency} build slots are busy"
    bigs = sum(1 for r in running if not is_small(r.cells, limits))
    if not is_small(build.cells, limits) and bigs >= big_slots(limits):
        return (
            f"queued: {bigs} big build(s) running, the most at once; the other slot is kept "
            "for small builds, so that they never wait behind big ones"
        )
    return "queued: builds of accounts with fewer running builds go first"
