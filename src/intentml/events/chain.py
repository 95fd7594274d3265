"""Verifying the per-stream hash chains of a sequence of stored events, pure.

Each event's bytes hash to `sha256(value)` and each envelope names the hash of the
previous event of its stream (`prev_hash`, empty for a stream's first event). Given
the events in log order (from the archive, the broker or an export file), this finds
the first one that breaks a chain and says how:

- **altered**: its bytes no longer match the hash recorded next to it (the archive's
  `hash` column, an export line's `hash`), or they are not an event at all;
- **inserted**: the next event of the stream links past it (to the one before it),
  or it stands out of log order;
- **removed**: it names a previous hash that is no event seen in its stream: an event
  between it and the one before was removed (or that one was altered and its recorded
  hash forged to match; the two cannot be told apart without the original).

A byte-for-byte copy of one of its stream's last `COPIES` events is no break: it is a
re-sent copy (an appender that lost the broker's acknowledgement produces the event
again, `intentml.events.log`), which the fold ignores (`intentml.domain.fold.judge`).
Copies are counted and reported; they change nothing, so they cannot hide tampering.

Memory is bounded by the number of streams, not events: a stream keeps only its last
few hashes (`WINDOW`, enough to name a run of up to that many inserted events, and
`COPIES`).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from typing import Literal

import msgspec

#: Hashes remembered per stream, to tell an inserted run from a removal.
WINDOW = 8
#: Hashes remembered per stream to recognise a re-sent copy of an event (a copy that
#: comes later than this many events of its stream reads as an inserted event).
COPIES = 64

ProblemKind = Literal["altered", "removed", "inserted"]


class ChainRecord(msgspec.Struct, frozen=True):
    """One stored event: its exact bytes, where it sits, and the hash stored with it."""

    value: bytes
    partition: int | None = None
    offset: int | None = None
    #: The hash recorded next to the bytes (None: nothing recorded, e.g. the broker).
    hash: str | None = None


class Problem(msgspec.Struct, frozen=True):
    """The first break of a chain: what kind, at which event, and an explanation."""

    kind: ProblemKind
    #: The event that is altered or inserted, or the first one after a removal.
    event_id: str
    stream: str
    partition: int | None
    offset: int | None
    message: str


class Report(msgspec.Struct, frozen=True):
    """What a verification saw: events and streams checked, and the first problem."""

    events: int
    streams: int
    problem: Problem | None = None
    #: Re-sent copies of events seen (not counted in `events`; they break nothing).
    copies: int = 0

    @property
    def intact(self) -> bool:
        """Whether every chain checked is unbroken."""
        return self.problem is None


class _Link(msgspec.Struct, frozen=True):
    """The fields of an envelope the chain needs; decoding only these keeps verification
    fast and independent of the payload's type and schema version."""

    event_id: str
    account_id: str
    model_name: str = ""
    prev_hash: str = ""


_decode_link = msgspec.json.Decoder(_Link).decode

#: A stream's genesis: what a first event's `prev_hash` names.
_GENESIS = ("", "the start of the stream", None, None)

#: What a stream remembers of one of its events: hash, event id, partition, offset.
_Seen = tuple[str, str, int | None, int | None]
#: An input position after every record.
_END = 1 << 62


def stream_of(value: bytes) -> str:
    """The stream (`account/model`) of an event's bytes, read without decoding its payload."""
    link = _decode_link(value)
    return f"{link.account_id}/{link.model_name}"


def _where(rec: ChainRecord) -> str:
    return "" if rec.partition is None else f" (partition {rec.partition}, offset {rec.offset})"


class _Suspect(msgspec.Struct, frozen=True):
    """An event that does not link to the one before it; the next event of its stream
    tells whether it was inserted (the next links past it) or follows a gap."""

    index: int
    rec: ChainRecord
    link: _Link
    digest: str


class _Stream:
    """What verification keeps of one stream: its last hashes and a pending suspect."""

    __slots__ = ("name", "recent", "suspect", "window")

    def __init__(self, name: str, first: _Seen) -> None:
        self.name = name
        #: (hash, event id) of its last events, oldest first.
        self.window: deque[_Seen] = deque([first], maxlen=WINDOW + 1)
        #: The hashes of its last `COPIES` events, to recognise re-sent copies.
        self.recent: deque[str] = deque(maxlen=COPIES)
        self.suspect: _Suspect | None = None

    def broken_link(self, s: _Suspect, followed: bool = False) -> Problem:
        """How `s` breaks the chain: it links to an earlier event than the last one, or
        to none seen (a gap: removed). `followed`: the next event of the stream links to
        `s`, so the events it skips were inserted; otherwise `s` itself forks the chain
        off that earlier event, and is the inserted one."""
        at = f"{s.link.event_id}{_where(s.rec)}"
        earlier = [i for i, seen in enumerate(self.window) if seen[0] == s.link.prev_hash]
        if earlier and earlier[-1] + 1 < len(self.window):
            base = self.window[earlier[-1]][1]
            if not followed:
                return self._problem(
                    "inserted",
                    s.link.event_id,
                    s.rec,
                    f"event {at} of {self.name} is not part of the chain: it links to "
                    f"{base}, which already has a successor ({self.window[earlier[-1] + 1][1]})",
                )
            _, first_inserted, partition, offset = self.window[earlier[-1] + 1]
            return Problem(
                "inserted",
                first_inserted,
                self.name,
                partition,
                offset,
                f"event {first_inserted} of {self.name} is not part of the chain: "
                f"{at} and the event after it link past it to {base}",
            )
        return self._problem(
            "removed",
            s.link.event_id,
            s.rec,
            f"an event of {self.name} is missing before {at}: it names a previous hash "
            f"{s.link.prev_hash[:16]}..., which is not that of {self.window[-1][1]} "
            "(removed, or that one was altered and its recorded hash forged to match)",
        )

    def _problem(self, kind: ProblemKind, event_id: str, rec: ChainRecord, msg: str) -> Problem:
        return Problem(kind, event_id, self.name, rec.partition, rec.offset, msg)


class ChainVerifier:
    """Checks records fed one at a time, in log order; for readers that are not a plain
    iterable (an async cursor, a consumer). `verify_chains` is the same over an iterable.

    `from_genesis`: every stream must start at its first event; False accepts a stream
    starting anywhere (an export cut by `--since`), taking its first event on trust.
    """

    def __init__(self, *, from_genesis: bool = True) -> None:
        self.from_genesis = from_genesis
        self.streams: dict[str, _Stream] = {}
        self.last_offsets: dict[int, int] = {}
        self.events = 0
        self.copies = 0
        self.index = 0

    def _done(self, problem: Problem | None, at_index: int) -> Report:
        # A suspect earlier in the input than `problem` is the first problem.
        pending = [(st.suspect.index, st) for st in self.streams.values() if st.suspect is not None]
        if pending:
            index, st = min(pending, key=lambda p: p[0])
            if index < at_index and st.suspect is not None:
                problem = st.broken_link(st.suspect)
        return Report(self.events, len(self.streams), problem, self.copies)

    def finish(self) -> Report:
        """The report once every record was fed: intact, or the first problem."""
        return self._done(None, _END)

    def add(self, rec: ChainRecord) -> Report | None:
        """Check one more record; a report with the first problem once there is one
        (stop feeding then), else None."""
        index = self.index
        self.index += 1
        try:
            link = _decode_link(rec.value)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return self._done(
                Problem("altered", "?", "?", rec.partition, rec.offset, f"not an event: {exc}"),
                index,
            )
        name = f"{link.account_id}/{link.model_name}"
        digest = hashlib.sha256(rec.value).hexdigest()
        at = f"event {link.event_id} of {name}{_where(rec)}"
        if rec.hash is not None and rec.hash != digest:
            msg = f"{at}: its bytes do not match its recorded hash"
            problem = Problem("altered", link.event_id, name, rec.partition, rec.offset, msg)
            return self._done(problem, index)
        if rec.partition is not None and rec.offset is not None:
            if rec.offset <= self.last_offsets.get(rec.partition, -1):
                msg = f"{at}: out of log order"
                problem = Problem("inserted", link.event_id, name, rec.partition, rec.offset, msg)
                return self._done(problem, index)
            self.last_offsets[rec.partition] = rec.offset
        st = self.streams.get(name)
        if st is None:
            first = (
                _GENESIS if self.from_genesis else (link.prev_hash, "the event before", None, None)
            )
            st = self.streams[name] = _Stream(name, first)
        if digest in st.recent:
            self.copies += 1
            return None
        self.events += 1
        last_hash, last_id, _, _ = st.window[-1]
        suspect, st.suspect = st.suspect, None
        if suspect is not None:
            if link.prev_hash == last_hash:
                # it links past the suspect, to the event before it
                return self._done(
                    st._problem(
                        "inserted",
                        suspect.link.event_id,
                        suspect.rec,
                        f"event {suspect.link.event_id} of {name}{_where(suspect.rec)} is not "
                        f"part of the chain: the next event, {link.event_id}, links past it "
                        f"to {last_id}",
                    ),
                    suspect.index,
                )
            followed = link.prev_hash == suspect.digest
            return self._done(st.broken_link(suspect, followed), suspect.index)
        if link.prev_hash == last_hash:
            st.window.append((digest, link.event_id, rec.partition, rec.offset))
            st.recent.append(digest)
            return None
        st.suspect = _Suspect(index, rec, link, digest)
        return None


def verify_chains(records: Iterable[ChainRecord], *, from_genesis: bool = True) -> Report:
    """Check every stream's chain over `records`, given in log order; the first problem."""
    verifier = ChainVerifier(from_genesis=from_genesis)
    for rec in records:
        report = verifier.add(rec)
        if report is not None:
            return report
    return verifier.finish()
