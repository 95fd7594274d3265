"""`Idempotency-Key` rules: key validation, the body hash, and what a retry gets."""

from __future__ import annotations

import hashlib
import random

import pytest

from intentml.domain.idempotency import (
    AnswerLost,
    BodyHasher,
    Conflict,
    Record,
    Replay,
    Run,
    Running,
    body_needed,
    key_problem,
    verdict,
)


@pytest.mark.parametrize("key", ["a", "0d4c7c1e-5b5e-4a4e-9f0a-2f0c6e8f9b11", "x" * 255, "a b~!"])
def test_good_keys(key: str) -> None:
    assert key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "says"),
    [("", "empty"), ("x" * 256, "at most 255"), ("café", "printable ASCII"), ("a\tb", "ASCII")],
)
def test_bad_keys_say_why(key: str, says: str) -> None:
    problem = key_problem(key)
    assert problem is not None and says in problem


def hashed(chunks: list[bytes], boundary: bytes | None) -> str:
    h = BodyHasher(boundary)
    for chunk in chunks:
        h.feed(chunk)
    return h.hexdigest()


def chunked(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(0, min(20, len(data) - 1))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def body(boundary: bytes, content: bytes) -> bytes:
    return (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="d.csv"'
        b"\r\n\r\n" + content + b"\r\n--" + boundary + b"--\r\n"
    )


def test_the_hash_does_not_depend_on_chunks_or_the_boundary() -> None:
    rng = random.Random(7)
    content = b"a,b\n" + b"1,2\n" * 200
    expected = hashed([body(b"XyZ123", content)], b"XyZ123")
    for _ in range(200):
        # a real boundary never occurs in the body; random ones of letters the body lacks
        boundary = bytes(rng.choice(b"QWXZ") for _ in range(rng.randint(8, 70)))
        data = body(boundary, content)
        assert hashed(chunked(data, rng), boundary) == expected, boundary
    # the content matters; so does the absence of a boundary
    assert hashed([body(b"XyZ123", content + b"3,4\n")], b"XyZ123") != expected
    assert hashed([body(b"XyZ123", content)], None) != expected


def test_without_a_boundary_it_is_the_plain_sha256() -> None:
    data = b'{"tags": ["a"]}'
    assert hashed([data[:3], data[3:]], None) == hashlib.sha256(data).hexdigest()
    assert hashed([], None) == hashlib.sha256(b"").hexdigest()


def record(**changes: object) -> Record:
    fields: dict[str, object] = {
        "method": "PATCH",
        "path": "/models/m",
        "body_hash": "h1",
        "event_id": "e1",
        "status": 202,
        "running": False,
    }
    fields.update(changes)
    return Record(**fields)  # type: ignore[arg-type]


def test_what_a_retry_gets() -> None:
    answered = record()
    assert body_needed(answered) == "needed"
    assert verdict(answered, "PATCH", "/models/m", "h1") == Replay()
    assert isinstance(verdict(answered, "PATCH", "/models/m", "h2"), Conflict)
    other = verdict(answered, "DELETE", "/models/m", None)
    assert isinstance(other, Conflict) and "PATCH /models/m" in other.message
    running = record(status=None, event_id=None, body_hash=None, running=True)
    assert body_needed(running) == "not_needed"
    assert verdict(running, "PATCH", "/models/m", None) == Running()
    appended_running = record(status=None, running=True)
    assert verdict(appended_running, "PATCH", "/models/m", None) == Running()
    died_before_append = record(status=None, event_id=None, body_hash=None)
    assert verdict(died_before_append, "PATCH", "/models/m", None) == Run()
    died_after_append = record(status=None)
    assert body_needed(died_after_append) == "needed"
    assert verdict(died_after_append, "PATCH", "/models/m", "h1") == AnswerLost("e1")
    assert isinstance(verdict(died_after_append, "PATCH", "/models/m", "h2"), Conflict)
    # the body was not yet read when it died: the event is named whatever the body
    unhashed = record(status=None, body_hash=None)
    assert verdict(unhashed, "PATCH", "/models/m", "h9") == AnswerLost("e1")
