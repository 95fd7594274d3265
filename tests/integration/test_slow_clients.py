"""Stalled and slow clients against a real uvicorn server on real sockets: a request whose
headers or body stop arriving gets a 408 in the documented format and its connection is
closed within INTENTML_BODY_TIMEOUT_S (plus a margin); it spends nothing of the key's rate
limit; a slow but steady upload still goes through; everyone else is served meanwhile."""

from __future__ import annotations

import asyncio

import msgspec

from intentml.config import Settings
from tests.data import churn_rows, to_csv
from tests.integration.test_request_limits import multipart
from tests.stack import Stack, platform_stack

TIMEOUT_S = 1.0
#: Scheduling on a shared 2-core machine, with 200 sockets to serve at once.
MARGIN_S = 4.0


def slow(settings: Settings, **changes: object) -> Settings:
    return msgspec.structs.replace(settings, body_timeout_s=TIMEOUT_S, **changes)


async def connect(stack: Stack) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = stack.client.base_url
    assert url.host and url.port
    return await asyncio.open_connection(url.host, url.port)


def head(
    stack: Stack, method: str, path: str, length: int, ctype: str = "application/json"
) -> bytes:
    auth = stack.client.headers["authorization"]
    return (
        f"{method} {path} HTTP/1.1\r\nHost: test\r\nAuthorization: {auth}\r\n"
        f"Content-Type: {ctype}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def answer_then_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the test's
    deadline: a connection held open fails the test)."""
    return await asyncio.wait_for(reader.read(), TIMEOUT_S + MARGIN_S)


def assert_408(raw: bytes) -> None:
    status, _, rest = raw.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", raw[:200]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    err = msgspec.json.decode(body)["error"]
    assert err["code"] == "request_timeout" and err["status"] == 408
    assert "INTENTML_BODY_TIMEOUT_S" in err["message"]


async def test_stalled_bodies_are_cut_off_cost_nothing_and_others_are_served(
    settings: Settings,
) -> None:
    # 50 requests a minute: were the 200 stalled requests charged, nothing else would pass.
    async with platform_stack(
        slow(settings, rate_limit_management=50), trainer=False, deployer=False
    ) as stack:
        loop = asyncio.get_running_loop()
        conns = []
        for _ in range(200):
            reader, writer = await connect(stack)
            # 10 of the 1000 announced bytes, then nothing
            writer.write(head(stack, "POST", "/models/stalled", 1000) + b'{"intent":')
            conns.append((reader, writer))
        started = loop.time()
        answers = asyncio.gather(*(answer_then_eof(r) for r, _ in conns))
        # Served meanwhile, and charged: the stalled requests did not spend the bucket.
        for _ in range(20):
            r = await stack.client.get("/models")
            assert r.status_code == 200, r.text
        for raw in await answers:
            assert_408(raw)
        assert loop.time() - started < TIMEOUT_S + MARGIN_S
        for _, writer in conns:
            writer.close()
        # The bucket holds what the 20 left (about 30, plus a little refill), not nothing.
        served = 0
        while (await stack.client.get("/models")).status_code == 200:
            served += 1
            assert served < 100
        assert served >= 25, served
        # Nothing was appended from the halves of bodies.
        types = sorted(r["type"] for r in await stack.pool.fetch("SELECT type FROM events"))
        assert types == ["AccountCreated", "ApiKeyIssued"], types


#: What a stalled client sent before it stopped, and whether there is a request to answer.
STALLED_HEADERS = [
    (b"", False),  # connected, nothing sent: nothing to answer, just closed
    (b"\r\n", False),  # a stray line end, which begins no request
    (b"POST /models/x HTTP/1.1\r\nHost: test\r\nX-Slow: ", True),  # half a header
    (b"GET /models HTTP/1.1\r\n", True),  # a request line and no end of headers
]


async def test_stalled_headers_are_cut_off(settings: Settings) -> None:
    async with platform_stack(slow(settings), trainer=False, deployer=False) as stack:
        for sent, answered in STALLED_HEADERS:
            reader, writer = await connect(stack)
            if sent:  # after a first request, so the guard covers a kept-alive connection
                auth = stack.client.headers["authorization"]
                first = f"GET /models HTTP/1.1\r\nHost: t\r\nAuthorization: {auth}\r\n\r\n"
                writer.write(first.encode())
                assert (await reader.readline()).startswith(b"HTTP/1.1 200")
                await reader.readuntil(b"\r\n\r\n")
            writer.write(sent)
            raw = await answer_then_eof(reader)
            if answered:
                assert_408(raw.partition(b"HTTP/1.1 408")[1] + raw.partition(b"HTTP/1.1 408")[2])
            else:
                assert b"408" not in raw, sent
            writer.close()
            assert (await stack.client.get("/models")).status_code == 200


async def test_a_trickle_is_cut_off(settings: Settings) -> None:
    """Headers that never end, or a body that keeps coming a byte at a time, are held to
    the deadline (header bytes do not extend it; body bytes only at the floor rate)."""
    async with platform_stack(slow(settings), trainer=False, deployer=False) as stack:
        loop = asyncio.get_running_loop()
        for phase in ("headers", "body"):
            reader, writer = await connect(stack)
            if phase == "body":
                writer.write(head(stack, "POST", "/models/trickle", 1000))
            else:
                writer.write(b"GET /models HTTP/1.1\r\n")
            started = loop.time()
            reading = asyncio.ensure_future(answer_then_eof(reader))
            while not reading.done():
                # the client's pace, not synchronization
                writer.write(b" " if phase == "body" else b"X-Slow: 1\r\n")
                await asyncio.sleep(0.1)
            assert_408(await reading)
            assert loop.time() - started < TIMEOUT_S + MARGIN_S
            writer.close()


async def test_a_slow_steady_upload_goes_through(settings: Settings) -> None:
    """Longer than the timeout, above the floor rate: accepted."""
    floor = 4096
    async with platform_stack(
        slow(settings, body_min_bytes_per_s=floor), trainer=False, deployer=False
    ) as stack:
        loop = asyncio.get_running_loop()
        body, headers = multipart("slow.csv", to_csv(churn_rows(300)))
        assert len(body) > 2 * floor  # its deadline is past TIMEOUT_S
        reader, writer = await connect(stack)
        writer.write(head(stack, "POST", "/uploads", len(body), headers["content-type"]))
        started = loop.time()
        step = floor // 2  # twice the floor rate, in 0.25 s steps
        for i in range(0, len(body), step):
            writer.write(body[i : i + step])
            await asyncio.sleep(0.25)  # the client's pace, not synchronization
        assert loop.time() - started > TIMEOUT_S
        status = await asyncio.wait_for(reader.readline(), 30)
        assert status.startswith(b"HTTP/1.1 201"), status
        writer.close()
