"""`/models` against the real stack: create, status, infer, list, and every error path."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import msgspec

from intentml.config import Settings
from tests.data import NEGATIVE, POSITIVE, churn_rows
from tests.stack import Stack, bad_request, platform_stack

MODEL_FIELDS = {
    "model_id",
    "model_name",
    "model_version",
    "name",
    "intent",
    "status",
    "deployment_status",
    "provider",
    "metric_name",
    "metric_value",
    "created_at",
    "updated_at",
}


async def wait_deployment_active(
    stack: Stack, model: str, deployment_id: str, timeout_s: float = 30.0
) -> None:
    """Poll the deployments list, as a client would, until `deployment_id` is ACTIVE."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        r = await stack.client.get(f"/models/{model}/deployments")
        assert r.status_code == 200, r.text
        found = [d for d in r.json()["deployments"] if d["deployment_id"] == deployment_id]
        assert found and found[0]["status"] in ("DEPLOYING", "ACTIVE"), found
        if found[0]["status"] == "ACTIVE":
            return
        assert asyncio.get_running_loop().time() < deadline, f"still {found}"
        await asyncio.sleep(0.05)  # a client polling


async def test_create_train_status_infer_and_list(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        upload_id = await stack.upload(churn_rows())
        r = await c.post(
            "/models/churn",
            json={
                "intent": "Predict customer churn based on usage patterns",
                "upload_id": upload_id,
                "name": "Churn predictor",
                "tags": ["crm"],
            },
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "PENDING" and body["model_version"] == "v1"
        assert body["provider"] == "auto" and body["name"] == "Churn predictor"
        assert body["target"] == "churned" and "churn" in body["target_reason"]
        assert r.headers["location"] == "/models/churn/v1/status"
        assert body["job_id"].startswith("job_") and body["model_id"].startswith("model_")

        seen: set[str] = set()
        while True:
            s = (await c.get("/models/churn/v1/status")).json()
            seen.add(s["status"])
            if s["status"] in ("READY", "ERROR"):
                break
            await asyncio.sleep(0.02)  # a client polling the status endpoint
        assert s["status"] == "READY", s
        assert s["build_progress"] == 100 and s["error"] is None
        assert s["result"]["metric_name"] == "roc_auc"
        assert 0.8 < s["result"]["metric_value"] <= 1.0
        assert seen <= {"PENDING", "BUILDING", "READY"}

        for ref in ("v1", "v1.0", "1"):
            assert (await c.get(f"/models/churn/{ref}/status")).json()["status"] == "READY"

        pos = await c.post("/models/churn/v1/infer", json=POSITIVE)
        neg = await c.post("/models/churn/v1/infer", json=NEGATIVE)
        assert pos.status_code == 200, pos.text
        out = pos.json()
        assert out["request_id"].startswith("req_")
        assert out["model_name"] == "churn" and out["model_version"] == "v1"
        assert set(out["result"]) == {"churned_probability", "churned"}
        assert out["result"]["churned_probability"] > neg.json()["result"]["churned_probability"]
        assert out["result"]["churned"] == 1 and neg.json()["result"]["churned"] == 0

        models = (await c.get("/models")).json()
        assert [m["model_name"] for m in models["models"]] == ["churn"]
        m = models["models"][0]
        assert m["status"] == "READY" and m["metric_name"] == "roc_auc"
        assert models["pagination"]["total"] == 1

        logs = await stack.pool.fetch(
            'SELECT message FROM build_logs ORDER BY partition, "offset", line'
        )
        text = "\n".join(r["message"] for r in logs)
        assert "target: churned" in text and "READY" in text

        # DELETE: the model and its deployments stop at once, the history stays in the log,
        # and the name is free for a new model.
        dep = await c.post("/models/churn/deploy", json={})
        assert dep.status_code in (200, 202), dep.text
        dep_id = dep.json()["deployment_id"]
        await wait_deployment_active(stack, "churn", dep_id)
        assert (await c.post(f"/predict/{dep_id}", json=POSITIVE)).status_code == 200
        assert (await c.get("/models")).json()["models"][0]["deployment_status"] == "DEPLOYED"
        assert (await c.get("/models/churn")).json()["deployment_status"] == "DEPLOYED"

        r = await c.delete("/models/churn")
        assert r.status_code == 200, r.text
        gone = r.json()
        assert gone["status"] == "DELETED" and gone["deleted_at"]
        assert gone["model_name"] == "churn" and gone["model_version"] == "v1"
        for r in (
            await c.get("/models/churn"),
            await c.get("/models/churn/v1"),
            await c.get("/models/churn/v1/status"),
            await c.post("/models/churn/v1/infer", json=POSITIVE),
            await c.post("/models/churn/latest/infer", json=POSITIVE),
            await c.post(f"/predict/{dep_id}", json=POSITIVE),
            await c.get("/models/churn/deployments"),
            await c.patch("/models/churn", json={"name": "x"}),
            await c.delete("/models/churn"),
        ):
            assert r.status_code == 404, (r.request.method, r.request.url, r.text)
            assert r.json()["error"]["code"] == "not_found"
        listed = (await c.get("/models")).json()
        assert listed["models"] == [] and listed["pagination"]["total"] == 0
        assert (await c.get("/models?status=READY")).json()["pagination"]["total"] == 0

        history = await stack.pool.fetch(
            "SELECT type FROM events WHERE model_name = 'churn' AND accepted"
        )
        assert {
            "ModelCreated",
            "BuildStarted",
            "VersionTrained",
            "VersionReady",
            "DeploymentRequested",
            "DeploymentActivated",
            "ModelDeleted",
        } <= {h["type"] for h in history}

        with stack.hold_trainer():
            r = await c.post(
                "/models/churn", json={"intent": "Predict churn", "upload_id": upload_id}
            )
            assert r.status_code == 202, r.text
            again = r.json()
            assert again["model_version"] == "v1" and again["model_id"] != body["model_id"]
            assert again["job_id"] != body["job_id"]
            await stack.wait_status("churn", final=("BUILDING",))
            detail = (await c.get("/models/churn")).json()
            assert detail["model_id"] == again["model_id"] and detail["name"] == "churn"
            assert detail["metrics"] == {} and detail["endpoint"] is None
            # the deleted model's READY v1 is not served under the reused name
            r = await c.post("/models/churn/v1/infer", json=POSITIVE)
            assert r.status_code == 409 and "BUILDING" in r.json()["error"]["message"]
            assert (await c.post(f"/predict/{dep_id}", json=POSITIVE)).status_code == 404
        assert (await stack.wait_status("churn"))["status"] == "READY"
        assert (await c.post("/models/churn/v1/infer", json=POSITIVE)).status_code == 200


async def test_output_schema_names_the_result_fields(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        upload_id = await stack.upload(churn_rows(300))
        r = await stack.client.post(
            "/models/risk",
            json={
                "intent": "Who will leave us?",
                "dataset_id": upload_id,
                "output_schema": {"churn_probability": "float", "risk_level": "string"},
            },
        )
        assert r.status_code == 202, r.text
        assert r.json()["target"] == "churned"
        assert (await stack.wait_status("risk"))["status"] == "READY"
        out = (await stack.client.post("/models/risk/v1/infer", json=POSITIVE)).json()
        assert set(out["result"]) == {"churn_probability", "risk_level"}
        assert out["result"]["risk_level"] in ("low", "medium", "high")


async def test_create_errors(settings: Settings) -> None:
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        c = stack.client
        upload_id = await stack.upload(churn_rows(50))
        ok = {"intent": "Predict churn", "upload_id": upload_id}

        r = await c.post("/models/bad name!", json=ok)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
        r = await c.post(
            "/models/m1", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
        r = await c.post("/models/m1", json={"upload_id": upload_id})
        assert r.status_code == 400, r.text
        r = await c.post("/models/m1", json={"intent": 5, "upload_id": upload_id})
        assert r.status_code == 400
        r = await c.post("/models/m1", json={"intent": "Predict churn"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
        r = await c.post("/models/m1", json={"intent": "Predict churn", "upload_id": "nope"})
        assert r.status_code == 404 and "upload" in r.json()["error"]["message"]
        r = await c.post(
            "/models/m1", json={"intent": "Predict the weather", "upload_id": upload_id}
        )
        assert r.status_code == 422, r.text
        assert "target" in r.json()["error"]["message"]
        assert "churned" in r.json()["error"]["details"]["columns"]
        r = await c.post("/models/m1", json={**ok, "target": "no_such_column"})
        assert r.status_code == 422

        assert (await c.post("/models/m1", json=ok)).status_code == 202
        r = await c.post("/models/m1", json=ok)
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"

        r = await c.get("/models/m1/v1/status")
        assert r.status_code == 200 and r.json()["status"] == "PENDING"
        r = await c.get("/models/m1/v2/status")
        assert r.status_code == 404 and "v2" in r.json()["error"]["message"]
        r = await c.get("/models/nope/v1/status")
        assert r.status_code == 404
        r = await c.get("/models/m1/vx/status")  # could be a version_id: none matches
        assert r.status_code == 404 and "'vx'" in r.json()["error"]["message"]
        r = await c.post("/models/m1/v1/infer", json=POSITIVE)
        assert r.status_code == 409 and "PENDING" in r.json()["error"]["message"]
        r = await c.get("/models", headers={"Authorization": "", "x-api-key": "iml_sk_wrong"})
        assert r.status_code == 401
        r = await c.get(
            "/models", headers={"Authorization": "", "x-api-key": stack.settings.api_key}
        )
        assert r.status_code == 200


async def test_racing_creates_one_wins_one_conflicts(settings: Settings) -> None:
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        upload_id = await stack.upload(churn_rows(50))
        body = {"intent": "Predict churn", "upload_id": upload_id}
        results = await asyncio.gather(
            *(stack.client.post("/models/race", json=body) for _ in range(4))
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [202, 409, 409, 409], [r.text for r in results]
        assert await stack.pool.fetchval("SELECT count(*) FROM models") == 1
        for r in results:
            if r.status_code == 409:
                assert "already exists" in r.json()["error"]["message"]
        # racers that passed the read-model pre-check were stopped by the fold, with a reason
        reasons = await stack.pool.fetch(
            "SELECT reason FROM events WHERE type = 'ModelCreated' AND NOT accepted"
        )
        assert all("already exists" in r["reason"] for r in reasons)


def at(timestamp: str) -> datetime:
    """A timestamp of the API as a datetime (strings don't compare: `.5Z` vs `Z`)."""
    return datetime.fromisoformat(timestamp)


def _names(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [m["model_name"] for m in r.json()["models"]]


async def test_list_read_and_update_models(settings: Settings) -> None:
    """Three models in three states: alpha READY, beta BUILDING, gamma PENDING."""
    # One partition and one build slot: beta holds the slot, gamma waits for it.
    one_partition = msgspec.structs.replace(settings, partitions=1, build_concurrency=1)
    async with platform_stack(one_partition) as stack:
        c = stack.client
        upload_id = await stack.upload(churn_rows(300))
        r = await c.post(
            "/models/alpha",
            json={
                "intent": "Predict customer churn based on usage patterns",
                "upload_id": upload_id,
                "name": "Alpha churn",
                "description": "first one",
                "tags": ["crm", "q3"],
            },
        )
        assert r.status_code == 202, r.text
        alpha = r.json()
        assert (await stack.wait_status("alpha"))["status"] == "READY"
        with stack.hold_trainer():
            r = await c.post(
                "/models/beta", json={"intent": "Predict churn", "dataset_id": upload_id}
            )
            assert r.status_code == 202 and r.json()["status"] == "PENDING", r.text
            await stack.wait_status("beta", final=("BUILDING",))
            r = await c.post(
                "/models/gamma",
                json={
                    "intent": "Predict churn",
                    "upload_id": upload_id,
                    "input_schema": {"usage_minutes": "float", "plan_type": "string"},
                    "output_schema": {"churned": "integer"},
                },
            )
            assert r.status_code == 202, r.text
            assert (await c.get("/models/gamma/v1/status")).json()["status"] == "PENDING"

            await _check_list_pagination_and_fields(c, alpha)
            await _check_list_filters_and_sorting(c)
            await _check_list_bad_params(c)
            await _check_get_model(stack, alpha)
            await _check_update_model(c)
            # the build held back never moved
            assert (await c.get("/models/gamma/v1/status")).json()["status"] == "PENDING"
            old_beta, new_beta = await _delete_while_building(c, upload_id)
        # the old beta's build finishes after its model is gone: it must not touch the new beta
        assert (await stack.wait_status("beta"))["status"] == "READY"
        beta = (await c.get("/models/beta")).json()
        assert beta["model_id"] == new_beta["model_id"] and beta["name"] == "beta"
        trained = await stack.pool.fetch(
            "SELECT accepted, reason FROM events"
            " WHERE model_name = 'beta' AND type = 'VersionTrained' ORDER BY partition, \"offset\""
        )
        assert [t["accepted"] for t in trained] == [False, True], trained
        old_logs = (await c.get(f"/models/build-logs?job_id={old_beta['job_id']}")).json()
        assert not any("trained" in x["message"] for x in old_logs["logs"])


async def _check_list_pagination_and_fields(c: httpx.AsyncClient, alpha: dict[str, Any]) -> None:
    r = await c.get("/models")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pagination"] == {"total": 3, "limit": 20, "offset": 0, "has_more": False}
    by_name = {m["model_name"]: m for m in body["models"]}
    # default order: newest first
    assert [m["model_name"] for m in body["models"]] == ["gamma", "beta", "alpha"]
    for m in body["models"]:
        assert set(m) == MODEL_FIELDS, m
        assert m["model_id"].startswith("model_") and m["model_version"] == "v1"
        assert m["provider"] == "auto" and m["intent"]
        assert m["deployment_status"] is None
        assert at(m["created_at"]) <= at(m["updated_at"])
    a = by_name["alpha"]
    assert a["model_id"] == alpha["model_id"] and a["name"] == "Alpha churn"
    assert a["status"] == "READY" and a["intent"] == alpha["intent"]
    assert a["metric_name"] == "roc_auc" and 0.5 < a["metric_value"] <= 1.0
    assert by_name["beta"]["status"] == "BUILDING" and by_name["beta"]["name"] == "beta"
    assert by_name["gamma"]["status"] == "PENDING"
    for pending in ("beta", "gamma"):
        assert by_name[pending]["metric_name"] is None
        assert by_name[pending]["metric_value"] is None
    assert len({m["model_id"] for m in body["models"]}) == 3

    pages = []
    for offset, expect_len, more in ((0, 2, True), (2, 1, False), (3, 0, False), (50, 0, False)):
        r = await c.get("/models", params={"limit": 2, "offset": offset})
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["pagination"] == {
            "total": 3,
            "limit": 2,
            "offset": offset,
            "has_more": more,
        }
        assert len(page["models"]) == expect_len
        pages += [m["model_name"] for m in page["models"]]
    assert pages == ["gamma", "beta", "alpha"]
    assert _names(await c.get("/models?limit=1&offset=1")) == ["beta"]
    r = await c.get("/models?limit=100")
    assert r.json()["pagination"]["limit"] == 100 and len(r.json()["models"]) == 3


async def _check_list_filters_and_sorting(c: httpx.AsyncClient) -> None:
    for status, expected in (
        ("READY", ["alpha"]),
        ("ready", ["alpha"]),
        ("BUILDING", ["beta"]),
        ("Building", ["beta"]),
        ("PENDING", ["gamma"]),
        ("pending", ["gamma"]),
        ("ERROR", []),
        ("DRAFT", []),
    ):
        r = await c.get("/models", params={"status": status})
        assert _names(r) == expected, status
        assert r.json()["pagination"]["total"] == len(expected)
    r = await c.get("/models", params={"status": "READY", "limit": 1, "offset": 1})
    assert _names(r) == [] and r.json()["pagination"]["total"] == 1

    assert _names(await c.get("/models?sort_by=name")) == ["gamma", "beta", "alpha"]
    assert _names(await c.get("/models?sort_by=name&sort_dir=asc")) == ["alpha", "beta", "gamma"]
    assert _names(await c.get("/models?sort_by=name&sort_dir=desc")) == ["gamma", "beta", "alpha"]
    assert _names(await c.get("/models?sort_by=created_at&sort_dir=asc")) == [
        "alpha",
        "beta",
        "gamma",
    ]
    assert _names(await c.get("/models?sort_by=created_at&sort_dir=desc")) == [
        "gamma",
        "beta",
        "alpha",
    ]
    assert _names(await c.get("/models?sort_dir=asc")) == ["alpha", "beta", "gamma"]
    assert _names(await c.get("/models?sort_by=name&sort_dir=asc&limit=1&offset=1")) == ["beta"]


async def _check_list_bad_params(c: httpx.AsyncClient) -> None:
    for query in (
        "limit=0",
        "limit=101",
        "limit=-5",
        "offset=-1",
        "status=FOO",
        "sort_by=size",
        "sort_dir=up",
        "limit=abc",
        "offset=abc",
        "offset=9223372036854775808",  # past PostgreSQL's bigint: a 500 once
        "offset=99999999999999999999",
    ):
        bad_request(await c.get(f"/models?{query}"))
    r = await c.get("/models?status=FOO")
    assert "READY" in r.json()["error"]["message"]


async def _check_get_model(stack: Stack, alpha: dict[str, Any]) -> None:
    c = stack.client
    r = await c.get("/models/alpha")
    assert r.status_code == 200, r.text
    m = r.json()
    assert set(m) >= MODEL_FIELDS
    assert m["model_id"] == alpha["model_id"] and m["model_name"] == "alpha"
    assert m["model_version"] == "v1" and m["status"] == "READY"
    assert m["name"] == "Alpha churn" and m["description"] == "first one"
    assert m["tags"] == ["crm", "q3"] and m["intent"] == alpha["intent"]
    assert m["dataset_id"] == alpha["upload_id"] and m["target"] == "churned"
    assert m["provider"] == "auto" and m["deployment_status"] is None
    assert m["metric_name"] == "roc_auc" and m["metrics"]["roc_auc"] == m["metric_value"]
    assert all(isinstance(v, float) for v in m["metrics"].values())
    assert m["build_progress"] == 100 and m["ready_version"] == "v1"
    assert m["endpoint"].endswith("/models/alpha/v1/infer")
    assert m["endpoint"].startswith(str(c.base_url).rstrip("/"))
    key_id = await stack.pool.fetchval("SELECT key_id FROM api_keys LIMIT 1")
    assert m["created_by"] == key_id
    assert at(m["created_at"]) <= at(m["updated_at"])
    # simple {"field": "type"} schemas, as in document 001
    assert m["input_schema"]["usage_minutes"] == "float"
    assert m["input_schema"]["support_tickets"] == "integer"
    assert m["input_schema"]["plan_type"] == "string"
    assert "churned" not in m["input_schema"]
    assert all(isinstance(t, str) for t in m["input_schema"].values())
    assert m["output_schema"] == {"churned_probability": "float", "churned": "integer"}
    r = await c.post(m["endpoint"], json=POSITIVE)
    assert r.status_code == 200, r.text

    g = (await c.get("/models/gamma")).json()
    assert g["status"] == "PENDING" and g["build_progress"] == 0
    assert g["metrics"] == {} and g["metric_name"] is None and g["metric_value"] is None
    assert g["endpoint"] is None and g["ready_version"] is None
    assert g["description"] == "" and g["tags"] == []
    assert g["input_schema"] == {"usage_minutes": "float", "plan_type": "string"}
    assert g["output_schema"] == {"churned": "integer"}

    r = await c.get("/models/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert "nope" in r.json()["error"]["message"]
    for bad in ("bad%20name!", ".hidden", "x" * 101):
        bad_request(await c.get(f"/models/{bad}"))


async def _check_update_model(c: httpx.AsyncClient) -> None:
    before = (await c.get("/models/alpha")).json()
    r = await c.patch(
        "/models/alpha",
        json={"name": "Alpha v2", "description": "better words", "tags": ["prod"]},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_name"] == "alpha" and out["model_version"] == "v1"
    assert out["name"] == "Alpha v2" and out["description"] == "better words"
    assert out["tags"] == ["prod"] and at(out["updated_at"]) > at(before["updated_at"])
    m = (await c.get("/models/alpha")).json()
    assert (m["name"], m["description"], m["tags"]) == ("Alpha v2", "better words", ["prod"])
    assert m["updated_at"] == out["updated_at"] and m["created_at"] == before["created_at"]
    assert m["intent"] == before["intent"] and m["status"] == "READY"
    listed = {x["model_name"]: x for x in (await c.get("/models")).json()["models"]}
    assert listed["alpha"]["name"] == "Alpha v2"

    # fields left out stay as they are
    r = await c.patch("/models/alpha", json={"description": "only this"})
    assert r.status_code == 200, r.text
    m = (await c.get("/models/alpha")).json()
    assert (m["name"], m["description"], m["tags"]) == ("Alpha v2", "only this", ["prod"])
    r = await c.patch("/models/alpha", json={})
    assert r.status_code == 200, r.text
    m = (await c.get("/models/alpha")).json()
    assert (m["name"], m["description"], m["tags"]) == ("Alpha v2", "only this", ["prod"])
    r = await c.patch("/models/alpha", json={"tags": [], "description": ""})
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == [] and r.json()["description"] == ""
    m = (await c.get("/models/alpha")).json()
    assert (m["name"], m["description"], m["tags"]) == ("Alpha v2", "", [])
    r = await c.patch("/models/alpha", json={"description": "only this", "name": None})
    assert r.status_code == 200 and r.json()["name"] == "Alpha v2", r.text
    # a model still building can be renamed too
    r = await c.patch("/models/beta", json={"name": "Beta"})
    assert r.status_code == 200 and r.json()["name"] == "Beta"
    assert (await c.get("/models/beta")).json()["status"] == "BUILDING"

    for bad in (
        {"colour": "red"},
        {"name": "ok", "owner": "me"},
        {"name": 5},
        {"tags": "prod"},
        {"tags": [1, 2]},
        {"description": ["x"]},
        {"name": ""},
        {"name": "x" * 201},
        {"tags": [""]},
    ):
        bad_request(await c.patch("/models/alpha", json=bad))
    bad_request(await c.patch("/models/alpha", json=["name"]))
    bad_request(
        await c.patch(
            "/models/alpha", content=b"{nope", headers={"content-type": "application/json"}
        )
    )
    m = (await c.get("/models/alpha")).json()
    assert (m["name"], m["description"], m["tags"]) == ("Alpha v2", "only this", [])

    r = await c.patch("/models/nope", json={"name": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    bad_request(await c.patch("/models/bad%20name!", json={"name": "x"}))


async def _delete_while_building(
    c: httpx.AsyncClient, upload_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Delete beta mid-build and create a new beta; the old build is still held."""
    old = (await c.get("/models/beta")).json()
    old_job = (await c.get("/models/beta/v1")).json()["job_id"]
    assert old["status"] == "BUILDING"
    r = await c.delete("/models/beta")
    assert r.status_code == 200 and r.json()["status"] == "DELETED", r.text
    assert (await c.get("/models/beta/v1/status")).status_code == 404
    assert _names(await c.get("/models?sort_dir=asc")) == ["alpha", "gamma"]
    assert _names(await c.get("/models?status=BUILDING")) == []
    r = await c.post("/models/beta", json={"intent": "Predict churn", "upload_id": upload_id})
    assert r.status_code == 202, r.text
    new = r.json()
    assert new["model_id"] != old["model_id"] and new["model_version"] == "v1"
    assert (await c.get("/models/beta/v1/status")).json()["status"] == "PENDING"
    assert _names(await c.get("/models?sort_dir=asc")) == ["alpha", "gamma", "beta"]
    return {**old, "job_id": old_job}, new
