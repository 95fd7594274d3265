"""`Idempotency-Key` on commands against the real stack: a retry gets the first answer byte
for byte and appends nothing; another request under the same key is a 409; a retry while
the first attempt runs is a 409 with Retry-After; a retry after the first attempt died
between its append and its answer names the event instead of appending it again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest

from intentml.config import Settings
from projections.projector import Projector
from tests.data import CHURN_INTENT, churn_rows, to_csv
from tests.integration.test_request_limits import multipart
from tests.stack import Stack, bad_request, error_of, platform_stack

CSV = to_csv(churn_rows(60))


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def event_types(stack: Stack) -> list[str]:
    return sorted(r["type"] for r in await stack.pool.fetch("SELECT type FROM events"))


async def settled(stack: Stack, timeout_s: float = 10.0) -> list[str]:
    """The archive's event types once the projector has applied everything appended."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        heads = await stack.pool.fetchval("SELECT count(*) FROM stream_heads")
        # every appended event ends a chain head's stream or precedes it: wait until the
        # archive holds each head's event
        missing = await stack.pool.fetchval(
            "SELECT count(*) FROM stream_heads h WHERE NOT EXISTS "
            "(SELECT 1 FROM events e WHERE e.event_id = h.event_id)"
        )
        if not missing and heads:
            # Read after the check: a list read before it could miss the very event the
            # projector archived in between.
            return await event_types(stack)
        assert asyncio.get_running_loop().time() < deadline, "the projector did not catch up"
        await asyncio.sleep(0.05)


def same_answer(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content  # byte for byte
    assert again.headers.get("location") == first.headers.get("location")
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async with platform_stack(settings, trainer=False, deployer=False) as s:
        yield s


async def test_retries_get_the_first_answer_and_append_nothing(stack: Stack) -> None:
    c = stack.client
    # An upload: httpx picks a new multipart boundary per request, the retry still matches.
    k = key()
    first = await c.post("/uploads", files={"file": ("d.csv", CSV, "text/csv")}, headers=k)
    assert first.status_code == 201, first.text
    again = await c.post("/uploads", files={"file": ("d.csv", CSV, "text/csv")}, headers=k)
    same_answer(first, again)
    upload_id = first.json()["upload_id"]
    # A model: 202 with a Location, and its build requested once.
    k = key()
    body = {"intent": CHURN_INTENT, "upload_id": upload_id}
    first = await c.post("/models/m", json=body, headers=k)
    assert first.status_code == 202, first.text
    same_answer(first, await c.post("/models/m", json=body, headers=k))
    # A PATCH and a DELETE.
    k = key()
    first = await c.patch("/models/m", json={"tags": ["a"]}, headers=k)
    assert first.status_code in (200, 202), first.text
    same_answer(first, await c.patch("/models/m", json={"tags": ["a"]}, headers=k))
    k = key()
    first = await c.delete("/models/m", headers=k)
    assert first.status_code in (200, 202), first.text
    same_answer(first, await c.delete("/models/m", headers=k))
    # Each command appended exactly once, and a key works for any key of the account.
    types = await settled(stack)
    assert types.count("DatasetUploaded") == 1
    assert types.count("ModelCreated") == 1
    assert types.count("ModelUpdated") == 1
    assert types.count("ModelDeleted") == 1
    assert len(list((stack.settings.uploads_dir).rglob("*.csv"))) == 1


async def test_another_request_under_the_same_key_is_a_conflict(stack: Stack) -> None:
    c = stack.client
    k = key()
    first = await c.post("/uploads", files={"file": ("d.csv", CSV, "text/csv")}, headers=k)
    assert first.status_code == 201, first.text
    other = to_csv(churn_rows(61))
    r = await c.post("/uploads", files={"file": ("d.csv", other, "text/csv")}, headers=k)
    err = error_of(r, 409, "conflict")
    assert err["details"]["reason"] == "key_reused"
    assert "another body" in err["message"]
    r = await c.patch("/models/x", json={"tags": []}, headers=k)
    err = error_of(r, 409, "conflict")
    assert "POST /uploads" in err["message"]
    # Without a key, nothing changes: the same upload is simply stored again.
    r = await c.post("/uploads", files={"file": ("d.csv", CSV, "text/csv")})
    assert r.status_code == 201
    assert (await settled(stack)).count("DatasetUploaded") == 2


@pytest.mark.parametrize("bad", [b"x" * 256, b"caf\xe9", b""])
async def test_malformed_keys_are_400(stack: Stack, bad: bytes) -> None:
    r = await stack.client.patch(
        "/models/x", json={"tags": []}, headers=[(b"Idempotency-Key", bad)]
    )
    err = bad_request(r)
    assert "Idempotency-Key" in err["message"]


async def test_a_server_error_is_not_kept(stack: Stack) -> None:
    """A key whose first attempt failed in the server can be retried for real."""
    c = stack.client
    k = key()
    # The database refuses the read model's lookups for a moment: a 5xx, nothing appended.
    await stack.pool.execute("ALTER TABLE uploads RENAME TO uploads_away")
    try:
        r = await c.post("/models/m", json={"intent": CHURN_INTENT, "upload_id": "u"}, headers=k)
        assert r.status_code >= 500, r.text
    finally:
        await stack.pool.execute("ALTER TABLE uploads_away RENAME TO uploads")
    assert await stack.pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    r = await c.post("/models/m", json={"intent": CHURN_INTENT, "upload_id": "u"}, headers=k)
    error_of(r, 404, "not_found")  # the real answer, now kept
    again = await c.post("/models/m", json={"intent": CHURN_INTENT, "upload_id": "u"}, headers=k)
    same_answer(r, again)


async def test_a_retry_while_the_first_runs_is_told_to_wait(stack: Stack) -> None:
    c = stack.client
    k = key()
    body, headers = multipart("d.csv", CSV)
    go_on = asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        yield body[:100]
        await go_on.wait()  # the first attempt is running, reading its body
        yield body[100:]

    first = asyncio.create_task(c.post("/uploads", content=held_body(), headers={**headers, **k}))
    deadline = asyncio.get_running_loop().time() + 10
    while not await stack.pool.fetchval("SELECT count(*) FROM idempotency_keys"):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    r = await c.post("/uploads", content=body, headers={**headers, **k})
    err = error_of(r, 409, "conflict")
    assert err["details"]["reason"] == "in_progress"
    assert r.headers["retry-after"] == "1"
    go_on.set()
    done = await first
    assert done.status_code == 201, done.text
    same_answer(done, await c.post("/uploads", content=body, headers={**headers, **k}))
    assert (await settled(stack)).count("DatasetUploaded") == 1


async def test_a_retry_after_the_first_died_past_its_append_appends_nothing(
    settings: Settings,
) -> None:
    """The first attempt appends, then its process is gone before it answers (emulated: the
    projector is stopped so the attempt waits after its append, and its claim is taken
    away as a dead process's lease would run out). The retry names the event; a restarted
    projector shows it was applied once."""
    slow = msgspec.structs.replace(settings, command_wait_s=3.0)
    async with platform_stack(slow, trainer=False, deployer=False) as stack:
        c = stack.client
        upload_id = await stack.upload(churn_rows(60))
        r = await c.post("/models/m", json={"intent": CHURN_INTENT, "upload_id": upload_id})
        assert r.status_code == 202
        await settled(stack)
        stack.projector.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stack.projector
        k = key()
        first = asyncio.create_task(c.patch("/models/m", json={"tags": ["x"]}, headers=k))
        deadline = asyncio.get_running_loop().time() + 10
        while not (event_id := await stack.pool.fetchval("SELECT event_id FROM idempotency_keys")):
            assert asyncio.get_running_loop().time() < deadline, "no event recorded"
            await asyncio.sleep(0.02)
        # The owner dies: its lease runs out and nobody renews it.
        await stack.pool.execute(
            "UPDATE idempotency_keys SET owner = $1, leased_until = now() - interval '1 s'",
            uuid.uuid4(),
        )
        r = await c.patch("/models/m", json={"tags": ["x"]}, headers=k)
        err = error_of(r, 409, "conflict")
        assert err["details"] == {"reason": "answer_lost", "event_id": event_id}
        assert event_id in err["message"]
        await first  # the "dead" attempt's answer is not stored: its claim was gone
        r = await c.patch("/models/m", json={"tags": ["x"]}, headers=k)
        assert error_of(r, 409, "conflict")["details"]["reason"] == "answer_lost"
        stop = asyncio.Event()
        projector = asyncio.create_task(
            Projector(
                stack.pool,
                slow.kafka_bootstrap_servers,
                slow.topic,
                group_id=f"p-{slow.topic}",
            ).run(stop)
        )
        try:
            # A new consumer waits for the cancelled one's session to time out (~6 s).
            assert (await settled(stack, 60.0)).count("ModelUpdated") == 1
        finally:
            stop.set()
            await projector


async def test_keys_expire_and_are_purged(stack: Stack) -> None:
    c = stack.client
    k = key()
    first = await c.post("/uploads", files={"file": ("d.csv", CSV, "text/csv")}, headers=k)
    assert first.status_code == 201
    expires = await stack.pool.fetchval("SELECT expires_at - created_at FROM idempotency_keys")
    assert expires.total_seconds() == stack.settings.idempotency_ttl_s == 86400
    # Within the window it is honoured (above); past it, the same key is a new request.
    await stack.pool.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 s'")
    other = to_csv(churn_rows(61))
    r = await c.post("/uploads", files={"file": ("d.csv", other, "text/csv")}, headers=k)
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    # Another key's claim purges the expired rows.
    old = key()
    await c.post("/uploads", files={"file": ("d.csv", CSV, "text/csv")}, headers=old)
    await stack.pool.execute(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 s' WHERE key = $1",
        old["Idempotency-Key"],
    )
    await c.patch("/models/none", json={"tags": []}, headers=key())
    keys = {r["key"] for r in await stack.pool.fetch("SELECT key FROM idempotency_keys")}
    assert old["Idempotency-Key"] not in keys and k["Idempotency-Key"] in keys


async def test_a_new_keys_secret_is_not_kept(stack: Stack) -> None:
    c = stack.client
    k = key()
    first = await c.post("/auth/api-keys", json={"name": "ci", "scope": "read_only"}, headers=k)
    assert first.status_code == 201, first.text
    secret = first.json()["key"]
    stored = await stack.pool.fetchval("SELECT body FROM idempotency_keys")
    assert secret.encode() not in stored
    r = await c.post("/auth/api-keys", json={"name": "ci", "scope": "read_only"}, headers=k)
    err = error_of(r, 409, "conflict")
    assert err["details"]["reason"] == "secret_not_kept"
    assert err["details"]["first_answer"]["key_id"] == first.json()["key_id"]
    assert (await settled(stack)).count("ApiKeyIssued") == 2  # the admin's and this one


async def test_predictions_ignore_the_header(stack: Stack) -> None:
    r = await stack.client.post(
        "/models/m/v1/infer", json={"inputs": {}}, headers={"Idempotency-Key": "x" * 300}
    )
    assert r.status_code == 404  # not a 400 about the key: the route never looks at it
    assert await stack.pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_a_retry_after_the_first_died_before_appending_runs_it(stack: Stack) -> None:
    """The row a process leaves when it dies after claiming a key and before appending
    (its lease run out, no event): the retry takes the key over and runs the command."""
    c = stack.client
    k = key()
    account = await stack.pool.fetchval("SELECT account_id FROM accounts")
    await stack.pool.execute(
        "INSERT INTO idempotency_keys (account_id, key, method, path, owner, leased_until, "
        "expires_at) VALUES ($1, $2, 'POST', '/uploads', $3, now() - interval '1 s', "
        "now() + interval '1 day')",
        account,
        k["Idempotency-Key"],
        uuid.uuid4(),
    )
    first = await c.post("/uploads", files={"file": ("d.csv", CSV, "text/csv")}, headers=k)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    same_answer(
        first, await c.post("/uploads", files={"file": ("d.csv", CSV, "text/csv")}, headers=k)
    )
    assert (await settled(stack)).count("DatasetUploaded") == 1
