"""Submitting a command: append its event, wait (bounded) for the fold's verdict.

Shared by the API, the operator CLI and start-up, so every writer gets the same
read-your-writes answer: accepted, rejected with the fold's reason, or still in
flight when the projector did not get to it in time.
"""

from __future__ import annotations

import asyncpg
import msgspec

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


async def submit(
    log: EventLog,
    watcher: CheckpointWatcher,
    pool: asyncpg.Pool,
    envelope: Envelope,
    wait_s: float,
) -> Outcome:
    """Append `envelope` and wait up to `wait_s` for the projector's verdict on it."""
    appended = await log.append(envelope)
    if appended.partition is None or appended.offset is None:
        return Outcome(appended, applied=False)  # stored; the log gets it when the broker is back
    if not await watcher.wait(appended.partition, appended.offset, wait_s):
        return Outcome(appended, applied=False)
    row = await pool.fetchrow(q.EVENT_VERDICT, envelope.event_id)
    if row is None:  # projected but not archived: cannot happen unless the DB was reset
        raise ReadModelReset(envelope.event_id)
    return Outcome(appended, True, row["accepted"], row["reason"])
