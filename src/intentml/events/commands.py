"""Submitting a command: pre-check it with the fold, append its event, wait for the verdict.

The one path of every writer of commands: the API, the operator CLI and start-up.
Each gets the same answers: refused at once with the fold's own reason (`Refused`),
or accepted, or rejected with the fold's reason (a racing command earlier in the log
won), or still in flight when the projector did not get to it in time.

The pre-check runs the fold's own `decide` on the candidate event, against the
stream's fold state as the projector last stored it, so the pre-check and the
verdict apply the same rules in the same words and cannot disagree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import msgspec

from intentml.domain.fold import (
    CONFLICT,
    RejectionKind,
    Ruling,
    StreamState,
    decide,
    decode_state,
)
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.envelope import Envelope
from intentml.events.log import Appended, EventLog
from projections import queries as q


class Outcome(msgspec.Struct, frozen=True):
    """What happened to a command: applied (accepted or not), or still in flight."""

    appended: Appended
    applied: bool
    accepted: bool = False
    reason: str | None = None


class ReadModelReset(Exception):
    """The projector passed the event but the archive lacks it: the database was reset."""


class Refused(Exception):
    """The fold refused the command before anything was appended: `reason` in its words,
    `kind` the kind of rule it broke (a conflict with the stream's state, or invalid)."""

    def __init__(self, reason: str, kind: RejectionKind) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


async def stream_state(pool: asyncpg.Pool, stream: str) -> StreamState:
    """A stream's fold state as the projector last stored it (`account_id/model_name`)."""
    rows = await pool.fetch(q.LOAD_STATES, [stream])
    return decode_state(rows[0]["state"] if rows else None)


async def precheck(pool: asyncpg.Pool, envelope: Envelope) -> Ruling:
    """The fold's verdict on `envelope` if it were the next event of its stream now: its
    stream's stored fold state (as of the projector's last batch) run through `decide`."""
    return decide(await stream_state(pool, envelope.stream), envelope)


async def submit(
    log: EventLog,
    watcher: CheckpointWatcher,
    pool: asyncpg.Pool,
    envelope: Envelope,
    wait_s: float,
    on_appended: Callable[[Appended], Awaitable[None]] | None = None,
    before_append: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """Pre-check `envelope` (raise `Refused` if the fold would reject it), append it, and
    wait up to `wait_s` for the projector's verdict on it. `before_append` is awaited
    after the pre-check, just before the append (it may raise to stop it); `on_appended`
    as soon as the event is in the log (before the wait)."""
    verdict = await precheck(pool, envelope)
    if not verdict.accepted:
        raise Refused(verdict.reason or "refused", verdict.kind or CONFLICT)
    if before_append is not None:
        await before_append()
    return await append_and_wait(log, watcher, pool, envelope, wait_s, on_appended)


async def append_and_wait(
    log: EventLog,
    watcher: CheckpointWatcher,
    pool: asyncpg.Pool,
    envelope: Envelope,
    wait_s: float,
    on_appended: Callable[[Appended], Awaitable[None]] | None = None,
) -> Outcome:
    """The second half of `submit`, for a command that passed its pre-check: append it and
    wait up to `wait_s` for the fold's verdict (a racing command may still win)."""
    appended = await log.append(envelope)
    if on_appended is not None:
        await on_appended(appended)
    if appended.partition is None or appended.offset is None:
        return Outcome(appended, applied=False)  # stored; the log gets it when the broker is back
    if not await watcher.wait(appended.partition, appended.offset, wait_s):
        return Outcome(appended, applied=False)
    row = await pool.fetchrow(q.EVENT_VERDICT, envelope.event_id)
    if row is None:  # projected but not archived: cannot happen unless the DB was reset
        raise ReadModelReset(envelope.event_id)
    return Outcome(appended, True, row["accepted"], row["reason"])
