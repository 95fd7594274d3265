"""Text PostgreSQL cannot store (NUL, lone surrogates): refused at the API, naming the
field, and judged by the projector without stopping when it reaches the log anyway."""

from __future__ import annotations

from intentml.config import Settings
from intentml.events.envelope import encode, make_event
from intentml.events.types import ModelUpdated
from projections.replay import rebuild
from tests.data import CHURN_INTENT, churn_rows, to_csv
from tests.stack import Stack, bad_request, error_of, platform_stack


def _multipart(filename: bytes, content: bytes, *fields: tuple[bytes, bytes]) -> tuple[bytes, str]:
    """A multipart body written byte for byte (httpx would percent-encode a NUL in a file
    name; a raw client need not), and its content type."""
    boundary = b"b0undary"
    parts = [
        b'Content-Disposition: form-data; name="%s"\r\n\r\n%s' % (name, value)
        for name, value in fields
    ]
    parts.append(
        b'Content-Disposition: form-data; name="file"; filename="%s"\r\n'
        b"Content-Type: text/csv\r\n\r\n%s" % (filename, content)
    )
    body = b"".join(b"--%s\r\n%s\r\n" % (boundary, p) for p in parts) + b"--%s--\r\n" % boundary
    return body, f"multipart/form-data; boundary={boundary.decode()}"


async def _applied_events(stack: Stack) -> int:
    """Archived events once a fresh valid command was applied: everything before it is in."""
    r = await stack.client.patch("/models/churn", json={"tags": ["probe"]})
    assert r.status_code == 200, r.text
    count: int = await stack.pool.fetchval("SELECT count(*) FROM events")
    return count


async def test_every_json_field_upload_name_header_and_form_field_is_refused_naming_it(
    settings: Settings,
) -> None:
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        upload_id = await stack.upload(churn_rows(40))
        r = await stack.client.post(
            "/models/churn", json={"intent": CHURN_INTENT, "upload_id": upload_id}
        )
        assert r.status_code == 202, r.text
        before = await _applied_events(stack)

        json_cases = [
            ("PATCH", "/models/churn", {"description": "a\x00b"}, "description"),
            ("PATCH", "/models/churn", {"name": "n\x00"}, "name"),
            ("PATCH", "/models/churn", {"tags": ["ok", "b\x00"]}, "tags[1]"),
            ("POST", "/models/other", {"intent": "churn\x00", "upload_id": upload_id}, "intent"),
            ("POST", "/models/other", {"intent": CHURN_INTENT, "upload_id": "\x00"}, "upload_id"),
            ("POST", "/auth/api-keys", {"scope": "read_only", "name": "ops\x00"}, "name"),
        ]
        for method, path, body, field in json_cases:
            r = await stack.client.request(method, path, json=body)
            assert bad_request(r)["details"] == {"field": field}, (path, body)
        # The same bytes as the escaped text "\u0000" are not a NUL: accepted.
        r = await stack.client.patch("/models/churn", json={"description": "a \\u0000 b"})
        assert r.status_code == 200, r.text
        before += 1

        csv = to_csv(churn_rows(40))
        header_nul = csv.replace(b"usage_minutes", b"usage\x00minutes", 1)
        assert header_nul != csv
        upload_cases = [
            (_multipart(b"d\x00.csv", csv), "filename"),
            (_multipart(b"d.csv", csv, (b"note", b"x\x00")), "note"),
            (_multipart(b"d.jsonl", b'{"a": 1, "b\\u0000c": 2}\n' * 3), "columns[1]"),
        ]
        for (body, ctype), field in upload_cases:
            r = await stack.client.post("/uploads", content=body, headers={"content-type": ctype})
            assert bad_request(r)["details"] == {"field": field}, r.text
        # A NUL byte in a CSV is binary data: refused as such, before any column is named.
        body, ctype = _multipart(b"d.csv", header_nul)
        r = await stack.client.post("/uploads", content=body, headers={"content-type": ctype})
        assert error_of(r, 422, "validation_error")["message"].find("binary") > 0
        assert bad_request(await stack.client.get("/uploads/a%00b"))["details"] == {
            "field": "upload_id"
        }
        r = await stack.client.get("/models", params={"status": "x\x00"})
        assert bad_request(r)["details"] == {"field": "status"}

        # Nothing was appended, and no upload file was left behind.
        assert await _applied_events(stack) == before + 1
        stored = list((settings.uploads_dir).rglob("*.csv"))
        assert len(stored) == 1, stored


async def test_an_event_with_a_nul_injected_into_the_log_is_rejected_and_the_projector_goes_on(
    settings: Settings,
) -> None:
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        upload_id = await stack.upload(churn_rows(40))
        r = await stack.client.post(
            "/models/churn", json={"intent": CHURN_INTENT, "upload_id": upload_id}
        )
        assert r.status_code == 202, r.text
        model_id = r.json()["model_id"]
        account = await stack.pool.fetchval("SELECT account_id FROM models")
        # Another writer, past the API: a NUL in the data and one in the envelope itself,
        # each the first event of its stream (so the chain rule lets the fold judge it).
        in_data = make_event(
            ModelUpdated(model_id=model_id, description="x\x00y"),
            account_id=account,
            model_name="ghost",
            actor="other-writer",
        )
        in_stream = make_event(
            ModelUpdated(model_id=model_id, description="z"),
            account_id=account + "\x00",
            model_name="churn",
            actor="other-writer\x00",
        )
        # Produced as a foreign writer would: no chain head can be kept for such a stream.
        appended = [
            await stack.log.producer.send_and_wait(
                settings.topic, encode(e), key=e.stream.encode("utf-8", "surrogatepass")
            )
            for e in (in_data, in_stream)
        ]
        for a in appended:
            assert await stack.watcher.wait(a.partition, a.offset, 30.0)
        rows = [
            await stack.pool.fetchrow(
                'SELECT * FROM events WHERE partition = $1 AND "offset" = $2', a.partition, a.offset
            )
            for a in appended
        ]
        assert rows[0] is not None and rows[1] is not None
        assert not rows[0]["accepted"] and "'data.description'" in rows[0]["reason"]
        assert not rows[1]["accepted"] and "'account_id'" in rows[1]["reason"]
        assert rows[1]["account_id"] == account + "\ufffd"
        assert rows[1]["actor"] == "other-writer\ufffd"
        # Bytes verbatim: the event decodes from the archive exactly as it was written.
        for e, row in zip((in_data, in_stream), rows, strict=True):
            assert bytes(row["value"]) == encode(e)
        # The projector is still running and the model is untouched.
        r = await stack.client.patch("/models/churn", json={"description": "after"})
        assert r.status_code == 200, r.text
        assert (await stack.client.get("/models/churn")).json()["description"] == "after"
        assert not stack.projector.done()
        # A rebuild from the archive folds them too, and stores what it can (it used to
        # COPY the fold state of the NUL-named stream, and fail).
        await rebuild(settings.database_url)
        assert (await stack.client.get("/models/churn")).json()["description"] == "after"
