"""The log for auditors, against the real stack: a model's timeline over the API and the
CLI, exporting the archive, and verifying its hash chains (tampered three ways)."""

from __future__ import annotations

import asyncio
import io
import itertools
from pathlib import Path
from typing import Any

import msgspec
import pytest

from intentml.cli.events import export, verify_archive, verify_log
from intentml.cli.main import main as cli_main
from intentml.config import Settings
from intentml.domain.keys import hash_key, key_id_for
from intentml.events.commands import append_and_wait
from intentml.events.contract import asyncapi
from intentml.events.envelope import decode, encode, event_hash, make_event, new_id
from intentml.events.export import export_line, read_export
from intentml.events.types import ModelCreated, TrainingRequest
from tests.data import CHURN_INTENT
from tests.stack import Stack, bad_request, error_of, platform_stack


async def _cli(argv: list[str]) -> int:
    """`intentml ...` as a user runs it (its own event loop, so on a thread)."""
    return await asyncio.to_thread(cli_main, argv)


def _cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers)
    monkeypatch.setenv("INTENTML_TOPIC", settings.topic)
    monkeypatch.setenv("INTENTML_DATA_DIR", str(settings.data_dir))


async def _rejected_create(stack: Stack, actor: str, upload_id: str) -> str:
    """A second ModelCreated for the live name, appended as a racing API process would
    (both passed the pre-check); the fold rejects it. Its reason."""
    dup = make_event(
        ModelCreated(
            model_id="mdl_racing",
            name="churn",
            intent=CHURN_INTENT,
            training=TrainingRequest(
                job_id=new_id(),
                version=1,
                version_id="ver_racing",
                upload_id=upload_id,
                dataset_format="csv",
                intent=CHURN_INTENT,
                target="churned",
                target_reason="given",
            ),
        ),
        account_id="default",
        model_name="churn",
        actor=actor,
    )
    outcome = await append_and_wait(stack.log, stack.watcher, stack.pool, dup, 10.0)
    assert outcome.applied and not outcome.accepted and outcome.reason
    return outcome.reason


async def test_a_models_timeline_over_the_api(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        created = await stack.ready_model("churn")
        actor = key_id_for(hash_key(settings.api_key))
        reason = await _rejected_create(stack, actor, created["upload_id"])

        r = await c.get("/models/churn/events")
        assert r.status_code == 200, r.text
        body = r.json()
        events: list[dict[str, Any]] = body["events"]
        assert body["model_name"] == "churn" and body["pagination"]["total"] == len(events)
        types = [e["type"] for e in events]
        assert types[0] == "ModelCreated" and types[-1] == "ModelCreated"
        assert {"BuildStarted", "VersionTrained", "VersionReady"} <= set(types)
        assert types.index("VersionTrained") < types.index("VersionReady")
        first, last = events[0], events[-1]
        assert first["actor"] == actor and first["accepted"] and first["reason"] is None
        assert first["model_version"] == "v1" and "churned" in first["summary"]
        assert first["prev_hash"] == ""
        assert not last["accepted"] and last["reason"] == reason and last["actor"] == actor
        trained = events[types.index("VersionTrained")]
        assert trained["actor"] != actor and "roc_auc" in trained["summary"]
        # log order, each linked to the one before
        assert [e["offset"] for e in events] == sorted(e["offset"] for e in events)
        assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))

        r = await c.get("/models/churn/events", params={"limit": 2, "offset": 1})
        page = r.json()
        assert [e["event_id"] for e in page["events"]] == [e["event_id"] for e in events[1:3]]
        assert page["pagination"] == {
            "total": len(events),
            "limit": 2,
            "offset": 1,
            "has_more": True,
        }
        bad_request(await c.get("/models/churn/events", params={"limit": 0}))
        bad_request(await c.get("/models/churn/events", params={"limit": 1001}))

        # `events` is a path of its own, never a version
        assert (await c.get("/models/churn/v1")).json()["model_version"] == "v1"
        error_of(await c.get("/models/churn/events/status"), 404, "not_found")
        error_of(await c.get("/models/ghost/events"), 404, "not_found")
        bad_request(await c.get("/models/.hidden/events"))

        # a deleted model's history stays
        assert (await c.delete("/models/churn")).status_code == 200
        after = (await c.get("/models/churn/events", params={"limit": 1000})).json()["events"]
        assert after[-1]["type"] == "ModelDeleted" and len(after) == len(events) + 1
        assert after[-1]["summary"] == "model deleted with its deployments"


async def test_audit_export_and_verify_from_the_command_line(
    settings: Settings,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with platform_stack(settings) as stack:
        created = await stack.ready_model("churn")
        await stack.ready_model("fraud")
        reason = await _rejected_create(stack, "key_racer", created["upload_id"])
        _cli_env(monkeypatch, settings)

        capsysbinary.readouterr()
        assert await _cli(["audit", "churn"]) == 0
        lines = capsysbinary.readouterr().out.decode().splitlines()
        assert "ModelCreated" in lines[0] and "VersionReady" in "\n".join(lines)
        assert lines[-1].endswith(f"[REJECTED: {reason}]") and "key_racer" in lines[-1]
        assert await _cli(["audit", "churn", "--account", "other"]) == 1
        assert b"no events of model 'churn'" in capsysbinary.readouterr().err

        assert await _cli(["events", "export"]) == 0
        exported = capsysbinary.readouterr().out
        all_lines = exported.splitlines(keepends=True)
        records = list(read_export(all_lines))
        n_archived = await stack.pool.fetchval("SELECT count(*) FROM events")
        assert len(records) == n_archived
        assert all(r.hash is not None for r in records)
        # filters: one model's stream; one type
        out = io.BytesIO()
        await export(settings, out, account="default", model="fraud")
        fraud = [decode(r.value) for r in read_export(out.getvalue().splitlines())]
        assert fraud and {(e.account_id, e.model_name) for e in fraud} == {("default", "fraud")}
        out = io.BytesIO()
        await export(settings, out, types=["VersionReady"])
        assert {decode(r.value).type for r in read_export(out.getvalue().splitlines())} == {
            "VersionReady"
        }

        # intact: the archive, the topic itself, and the export file
        assert (await verify_archive(settings)).intact
        assert (await verify_log(settings)).intact
        path = tmp_path / "events.jsonl"
        path.write_bytes(exported)
        assert await _cli(["events", "verify", "--file", str(path)]) == 0
        assert b"intact" in capsysbinary.readouterr().err

        churn = [i for i, r in enumerate(records) if decode(r.value).model_name == "churn"]

        async def tampered(lines: list[bytes]) -> str:
            path.write_bytes(b"".join(lines))
            assert await _cli(["events", "verify", "--file", str(path)]) == 1
            return capsysbinary.readouterr().err.decode()

        # altered: a metric in a VersionTrained event improved after the fact
        i = next(i for i in churn if decode(records[i].value).type == "VersionTrained")
        altered = list(all_lines)
        altered[i] = altered[i].replace(b'"metric_value":0.', b'"metric_value":1.', 1)
        assert altered[i] != all_lines[i]
        err = await tampered(altered)
        assert err.startswith("ALTERED") and decode(records[i].value).event_id in err

        # removed: the BuildStarted of churn's build
        i = next(i for i in churn if decode(records[i].value).type == "BuildStarted")
        err = await tampered(all_lines[:i] + all_lines[i + 1 :])
        assert err.startswith("REMOVED")
        after_removed = decode(records[churn[churn.index(i) + 1]].value).event_id
        assert after_removed in err

        # inserted: a second VersionReady, copied from the real one under a new id
        i = next(i for i in churn if decode(records[i].value).type == "VersionReady")
        env = decode(records[i].value)
        forged = encode(msgspec.structs.replace(env, event_id="forged-ready"))
        fake_line = export_line(
            partition=records[i].partition or 0,
            offset=(records[i].offset or 0) + 1,
            hash=event_hash(forged),
            accepted=True,
            reason=None,
            value=forged,
        )
        # the forger makes room in the offsets too, so only the chain gives it away
        following = [
            export_line(
                partition=r.partition or 0,
                offset=(r.offset or 0) + 1
                if r.partition == records[i].partition
                else r.offset or 0,
                hash=r.hash or "",
                accepted=True,
                reason=None,
                value=r.value,
            )
            for r in records[i + 1 :]
        ]
        err = await tampered([*all_lines[: i + 1], fake_line, *following])
        assert err.startswith("INSERTED") and "forged-ready" in err


async def test_the_event_contract_is_served_without_a_key(settings: Settings) -> None:
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        r = await stack.client.get("/events/asyncapi.json", headers={"Authorization": ""})
        assert r.status_code == 200, r.text
        assert r.json() == asyncapi(settings.topic)
        assert r.json()["channels"]["events"]["address"] == settings.topic
