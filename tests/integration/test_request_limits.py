"""The documented request limits against the real stack: oversized and malformed uploads and
bodies are refused with the documented errors and leave nothing behind (no file, no event,
no row), and model names outside the pattern never get near the filesystem."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

from intentml.config import Settings
from tests.data import CHURN_INTENT, churn_rows, to_csv
from tests.stack import Stack, bad_request, error_of, platform_stack


def leftovers(settings: Settings) -> list[str]:
    """Everything under the uploads dir: files and directories alike."""
    root = settings.uploads_dir
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


async def nothing_recorded(stack: Stack) -> None:
    """Nothing in the log but the start-up's account and key, and no upload row."""
    assert await stack.pool.fetchval("SELECT count(*) FROM uploads") == 0
    types = sorted(r["type"] for r in await stack.pool.fetch("SELECT type FROM events"))
    assert types == ["AccountCreated", "ApiKeyIssued"], types


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    """A body without Content-Length (chunked), as a streaming client sends it."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def multipart(filename: str, content: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = "intentml-test-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


async def test_oversized_uploads_are_413_and_leave_nothing(settings: Settings) -> None:
    small = msgspec.structs.replace(settings, max_upload_bytes=2000)
    big = to_csv(churn_rows(400))
    assert len(big) > 5 * 2000
    async with platform_stack(small, trainer=False, deployer=False) as stack:
        c = stack.client
        r = await c.post("/uploads", files={"file": ("big.csv", big, "text/csv")})
        err = error_of(r, 413, "payload_too_large")
        assert err["details"] == {"limit_bytes": 2000}
        assert "INTENTML_MAX_UPLOAD_BYTES" in err["message"]
        # streamed without a Content-Length: the count of bytes received stops it too
        body, headers = multipart("big.csv", big)
        r = await c.post("/uploads", content=chunks(body), headers=headers)
        error_of(r, 413, "payload_too_large")
        assert leftovers(small) == []
        await nothing_recorded(stack)
        # under the limit it is stored, once
        r = await c.post("/uploads", files={"file": ("ok.csv", to_csv(churn_rows(5)), "text/csv")})
        assert r.status_code == 201, r.text
        assert len([p for p in leftovers(small) if p.endswith(".csv")]) == 1


MALFORMED = [
    # (file name, content, what the message must say)
    ("ragged.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8\n", "CSV line 3"),
    ("empty.csv", b"", "empty"),
    ("header-only.csv", b"a,b,c\n", "no data rows"),
    ("cut-short.csv", b'a,b\n1,"x ""q"" y"\n3,"4\n5,6\n', "line 3: a quoted value opens"),
    ("binary.csv", bytes(range(256)) * 8, ""),
    ("broken.parquet", b"PAR1" + b"\x00garbage" * 50, "Parquet"),
    ("broken.jsonl", b'{"a": 1}\n{"a": 2\n{"a": 3}\n', "line 2"),
    ("list.jsonl", b"[1, 2, 3]\n", ""),
    ("sheet.xlsx", b"PK\x03\x04" + b"\x00" * 100, ""),
]


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async with platform_stack(settings, trainer=False, deployer=False) as s:
        yield s


async def test_malformed_uploads_are_422_with_the_reason_and_leave_nothing(stack: Stack) -> None:
    for filename, content, says in MALFORMED:
        r = await stack.client.post(
            "/uploads", files={"file": (filename, content, "application/octet-stream")}
        )
        err = error_of(r, 422, "validation_error")
        assert says.lower() in err["message"].lower(), (filename, err)
    assert leftovers(stack.settings) == []
    await nothing_recorded(stack)


async def test_json_bodies_over_the_limit_are_413_and_change_nothing(settings: Settings) -> None:
    small = msgspec.structs.replace(settings, max_body_bytes=1000)
    async with platform_stack(small, trainer=False, deployer=False) as stack:
        c = stack.client
        big = {"intent": CHURN_INTENT + " " + "x" * 2000, "upload_id": "u"}
        err = error_of(await c.post("/models/churn", json=big), 413, "payload_too_large")
        assert "limit" in err["message"]
        encoded = msgspec.json.encode(big)
        r = await c.post(
            "/models/churn",
            content=chunks(encoded, 100),
            headers={"content-type": "application/json"},
        )
        error_of(r, 413, "payload_too_large")
        # every JSON route, inference and key management included
        error_of(await c.post("/models/churn/v1/infer", json=big), 413, "payload_too_large")
        rows = [{"usage_minutes": 1.0}] * 100
        r = await c.post("/models/churn/v1/predictions", json=rows)
        error_of(r, 413, "payload_too_large")
        r = await c.post("/auth/api-keys", json={"name": "n" * 2000, "scope": "admin"})
        error_of(r, 413, "payload_too_large")
        await nothing_recorded(stack)
        keys = (await c.get("/auth/api-keys")).json()["api_keys"]
        assert [k["name"] for k in keys] == ["bootstrap"]


async def test_malformed_json_bodies_are_400(stack: Stack) -> None:
    c, headers = stack.client, {"content-type": "application/json"}
    for body in (b"{", b"[1, 2", b'{"intent": "x" "y"}', b"\xff\xfe", b"null", b"[]", b'"x"'):
        bad_request(await c.post("/models/churn", content=body, headers=headers))
    deep = b"[" * 100_000 + b"]" * 100_000
    bad_request(await c.post("/models/churn", content=deep, headers=headers))
    await nothing_recorded(stack)


BAD_NAMES = [
    "x" * 101,
    ".hidden",
    "..",
    "a..%2F..%2Fetc",
    "%2E%2E",
    "has space",
    "semi;colon",
    "uni\u00e9",
    "build-logs",
]


async def test_model_names_outside_the_pattern_are_400_and_touch_no_file(stack: Stack) -> None:
    c = stack.client
    upload_id = await stack.upload(churn_rows(30))
    before = leftovers(stack.settings)
    for name in BAD_NAMES:
        r = await c.post(f"/models/{name}", json={"intent": CHURN_INTENT, "upload_id": upload_id})
        assert r.status_code in (400, 404), (name, r.text)
        if r.status_code == 400:
            bad_request(r)
        else:  # the router matched no model route at all (an encoded '/', say)
            error_of(r, 404, "not_found")
    assert leftovers(stack.settings) == before
    artifacts = stack.settings.artifacts_dir
    assert not artifacts.exists() or not any(artifacts.rglob("*"))
    types = [r["type"] for r in await stack.pool.fetch("SELECT type FROM events")]
    assert "ModelCreated" not in types
    # the longest and the oddest allowed names are fine
    for name in ("x" * 100, "a.b-c_D9", "_lead", "-dash"):
        r = await c.post(f"/models/{name}", json={"intent": CHURN_INTENT, "upload_id": upload_id})
        assert r.status_code == 202, (name, r.text)
