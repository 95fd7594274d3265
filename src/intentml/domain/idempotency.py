"""`Idempotency-Key`: what a retried command gets, as pure functions.

A client that sends a command with an `Idempotency-Key` and loses the answer may
send the same request with the same key again: it gets the first answer, and
nothing is appended twice. Keys are scoped per account (any key of the account
may retry, e.g. after a key rotation) and kept `INTENTML_IDEMPOTENCY_TTL_S`.

A request is the same when its method, path (with query) and body are: the body
by its SHA-256, where a multipart body has its boundary (random per client call)
replaced by a fixed token, so a retry of the same upload matches.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

#: Longest key accepted (as Stripe's).
MAX_KEY_LENGTH = 255
#: What a multipart boundary is replaced with when hashing a body.
BOUNDARY_TOKEN = b"\x00boundary\x00"


def key_problem(key: str) -> str | None:
    """Why `key` cannot be an idempotency key, or None if it can."""
    if not key:
        return "the Idempotency-Key header is empty; send a unique value (e.g. a UUID) per command"
    if len(key) > MAX_KEY_LENGTH:
        return f"the Idempotency-Key is {len(key)} characters long; at most {MAX_KEY_LENGTH}"
    if not all(" " <= c <= "~" for c in key):
        return "the Idempotency-Key must be printable ASCII (e.g. a UUID)"
    return None


class BodyHasher:
    """SHA-256 of a request body fed in chunks, with every occurrence of `boundary`
    replaced by `BOUNDARY_TOKEN`; the same digest however the body is chunked."""

    __slots__ = ("_boundary", "_carry", "_digest", "size")

    def __init__(self, boundary: bytes | None = None) -> None:
        self._boundary = boundary or None
        self._carry = b""
        self._digest = hashlib.sha256()
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        """Add the next chunk of the body."""
        self.size += len(chunk)
        b = self._boundary
        if b is None:
            self._digest.update(chunk)
            return
        data = self._carry + chunk
        # An occurrence starting at or after `safe` might continue in the next chunk.
        safe = max(0, len(data) - len(b) + 1)
        i = 0
        while (j := data.find(b, i)) != -1 and j < safe:
            self._digest.update(data[i:j])
            self._digest.update(BOUNDARY_TOKEN)
            i = j + len(b)
        if i < safe:
            self._digest.update(data[i:safe])
            i = safe
        self._carry = data[i:]

    def hexdigest(self) -> str:
        """The digest of everything fed (call once, at the end of the body)."""
        self._digest.update(self._carry)
        self._carry = b""
        return self._digest.hexdigest()


class Record(msgspec.Struct, frozen=True):
    """What is kept of a key: the request it was first used for, and how far it got."""

    method: str
    path: str
    body_hash: str | None
    event_id: str | None
    status: int | None
    #: An attempt is running it now (its lease is alive).
    running: bool


class Replay(msgspec.Struct, frozen=True):
    """Answer with the stored first answer."""


class Conflict(msgspec.Struct, frozen=True):
    """409: the key was used for another request."""

    message: str


class Running(msgspec.Struct, frozen=True):
    """409 with Retry-After: the first attempt is still running."""


class AnswerLost(msgspec.Struct, frozen=True):
    """409: the first attempt appended `event_id` and died before answering; running it
    again could apply it twice."""

    event_id: str


class Run(msgspec.Struct, frozen=True):
    """Nothing of a previous attempt remains: run the command (taking the key over)."""


Verdict = Replay | Conflict | Running | AnswerLost | Run

#: What `verdict` needs to know about the retried request's body.
BodyNeed = Literal["needed", "not_needed"]


def body_needed(record: Record) -> BodyNeed:
    """Whether deciding on a retry needs the hash of its body (which costs reading it)."""
    if record.status is not None or (record.event_id is not None and not record.running):
        return "needed"
    return "not_needed"


def verdict(record: Record, method: str, path: str, body_hash: str | None) -> Verdict:
    """What a request with a key already in `record` gets; `body_hash` is the request's
    when `body_needed(record)` says so, else it may be None."""
    if (record.method, record.path) != (method, path):
        return Conflict(
            f"this Idempotency-Key was used for {record.method} {record.path} (keys are "
            f"kept 24 h by default); send a new key for another request"
        )
    if record.status is None and record.running:
        return Running()
    if record.status is None and record.event_id is None:
        return Run()
    if record.body_hash is not None and body_hash != record.body_hash:
        return Conflict(
            f"this Idempotency-Key was used for {method} {path} with another body; send a "
            f"new key for another request, or the same body to get the first answer"
        )
    if record.status is None:
        assert record.event_id is not None  # narrowed by the cases above
        return AnswerLost(record.event_id)
    return Replay()
