"""`/models` against the real stack: create, status, infer, list, and every error path."""

from __future__ import annotations

import asyncio

from intentml.config import Settings
from tests.data import NEGATIVE, POSITIVE, churn_rows
from tests.stack import platform_stack


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
        r = await c.get("/models/m1/vx/status")
        assert r.status_code == 400
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


async def test_inference_validation(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        upload_id = await stack.upload(churn_rows(300))
        await c.post("/models/v", json={"intent": "Predict churn", "upload_id": upload_id})
        assert (await stack.wait_status("v"))["status"] == "READY"

        r = await c.post(
            "/models/v/v1/infer", json={"usage_minutes": "lots", "plan_type": "basic", "bogus": 1}
        )
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "validation_error"
        fields = {d["field"] for d in err["details"]}
        assert {"usage_minutes", "bogus", "support_tickets"} <= fields
        assert all(d["expected"] for d in err["details"])

        r = await c.post("/models/v/v1/infer", json={**POSITIVE, "plan_type": "platinum"})
        assert r.status_code == 200
        assert any("platinum" in w for w in r.json()["warnings"])
        assert any("customer_id" in w for w in r.json()["warnings"])

        r = await c.post("/models/v/v1/infer", json=[POSITIVE])
        assert r.status_code == 400
        r = await c.post("/models/v/v9/infer", json=POSITIVE)
        assert r.status_code == 404
