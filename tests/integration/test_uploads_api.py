"""`/uploads` against the real stack: formats, errors, and nothing left behind on failure."""

from __future__ import annotations

import io
import json

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from intentml.config import Settings
from tests.data import churn_rows, to_csv
from tests.stack import platform_stack


def _stored_files(settings: Settings) -> list[str]:
    root = settings.data_dir / "uploads"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_uploads_in_every_format_and_their_errors(settings: Settings) -> None:
    rows = churn_rows(40)
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        c = stack.client
        r = await c.post("/uploads", files={"file": ("churn.csv", to_csv(rows), "text/csv")})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["rows"] == 40 and body["format"] == "csv" and body["status"] == "complete"
        assert body["dataset_id"] == body["upload_id"]
        types = {col["name"]: col["type"] for col in body["columns"]}
        assert types["usage_minutes"] == "number"
        assert types["support_tickets"] == "integer"
        assert types["plan_type"] == "string"
        assert types["signup_date"] == "date"
        again = await c.get(f"/uploads/{body['upload_id']}")
        assert again.status_code == 200, again.text
        assert again.json() == body

        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), buf)
        r = await c.post(
            "/uploads", files={"file": ("x.parquet", buf.getvalue(), "application/octet-stream")}
        )
        assert r.status_code == 201, r.text
        assert r.json()["format"] == "parquet" and r.json()["rows"] == 40

        jsonl = "\n".join(json.dumps(x) for x in rows).encode()
        r = await c.post("/uploads", files={"file": ("x.jsonl", jsonl, "application/x-ndjson")})
        assert r.status_code == 201, r.text
        assert r.json()["format"] == "jsonl" and r.json()["rows"] == 40
        stored = _stored_files(settings)
        assert len(stored) == 3

        broken = b"a,b,c\n1,2,3\n4,5\n6,7,8\n"
        r = await c.post("/uploads", files={"file": ("bad.csv", broken, "text/csv")})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "validation_error"
        r = await c.post("/uploads", files={"file": ("empty.csv", b"", "text/csv")})
        assert r.status_code == 422
        r = await c.post("/uploads", files={"other": ("a.csv", to_csv(rows), "text/csv")})
        assert r.status_code == 400
        assert "'file'" in r.json()["error"]["message"]
        r = await c.post("/uploads", json={"file": "nope"})
        assert r.status_code == 400
        assert _stored_files(settings) == stored

        r = await c.get("/uploads/does-not-exist")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await c.get("/uploads", headers={"Authorization": "Bearer wrong"})
        assert r.status_code in (401, 405)
        r = await c.get(f"/uploads/{body['upload_id']}", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


async def test_upload_size_limit_is_enforced_while_streaming(settings: Settings) -> None:
    small = msgspec.structs.replace(settings, max_upload_bytes=2000)
    async with platform_stack(small, trainer=False, deployer=False) as stack:
        r = await stack.client.post(
            "/uploads", files={"file": ("big.csv", to_csv(churn_rows(200)), "text/csv")}
        )
        assert r.status_code == 413, r.text
        assert r.json()["error"]["details"]["limit_bytes"] == 2000
        assert _stored_files(small) == []
