"""The two reference documents' flows, done as a client written against each would do them.

Document 000 (the short Model Management API) and document 001 (Plexe's Models API)
describe overlapping endpoints with different field names; both clients must work
unchanged against this API. Statuses are uppercase here (`READY`, not `completed`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from intentml.config import Settings
from tests.data import churn_rows
from tests.stack import Stack, platform_stack

#: How long a client polls before giving up (builds of 300 rows take a few seconds).
POLL_S = 60.0


async def poll(fetch: Any, done: Any, what: str) -> dict[str, Any]:
    """Call `fetch()` until `done(body)`; as a client polls (the API has nothing to block on)."""
    deadline = asyncio.get_running_loop().time() + POLL_S
    while True:
        r = await fetch()
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if done(body):
            return body
        assert asyncio.get_running_loop().time() < deadline, f"{what}: still {body}"
        await asyncio.sleep(0.05)


async def poll_status(c: httpx.AsyncClient, model: str, version: str) -> dict[str, Any]:
    """Poll a version's status until it is final; every status seen is a documented one."""
    seen: set[str] = set()

    def final(body: dict[str, Any]) -> bool:
        seen.add(body["status"])
        return body["status"] in ("READY", "ERROR")

    body = await poll(
        lambda: c.get(f"/models/{model}/{version}/status"), final, f"{model} {version}"
    )
    assert seen <= {"PENDING", "BUILDING", "READY"}, seen
    return body


@contextlib.asynccontextmanager
async def key_client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client that authenticates with `x-api-key` only, as document 001 shows for some calls."""
    async with httpx.AsyncClient(
        base_url=stack.client.base_url, headers={"x-api-key": stack.settings.api_key}, timeout=30
    ) as c:
        yield c


async def test_document_000_flow(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        upload_id = await stack.upload(churn_rows(300))
        intent = "Predict customer churn based on usage patterns"

        # Create a Model
        r = await c.post(
            "/models/churn-predictor",
            json={"upload_id": upload_id, "intent": intent, "metric": "accuracy"},
        )
        assert r.status_code == 202, r.text
        created = r.json()
        assert created["model_id"] and created["model_name"] == "churn-predictor"
        assert created["status"] == "PENDING" and created["provider"] == "auto"
        assert created["intent"] == intent and created["upload_id"] == upload_id
        assert created["created_at"]
        version = created["model_version"]
        assert version == "v1"

        # Check Model Status, until done
        status = await poll_status(c, "churn-predictor", version)
        assert status["status"] == "READY", status
        assert status["error"] is None
        assert status["result"]["metric_name"] == "accuracy"
        assert 0.7 < status["result"]["metric_value"] <= 1.0

        # Get Model Details
        r = await c.get(f"/models/churn-predictor/{version}")
        assert r.status_code == 200, r.text
        details = r.json()
        assert details["model_id"] == created["model_id"]
        assert details["model_name"] == "churn-predictor" and details["status"] == "READY"
        assert details["created_at"] == created["created_at"]
        assert details["intent"] == intent and details["provider"] == "auto"
        assert details["metric_name"] == "accuracy"
        assert details["metric_value"] == status["result"]["metric_value"]
        properties = details["input_schema"]["properties"]
        # the inputs have a type (nullable: null means "unknown"); columns the model ignores
        # are listed too, without one, so clients sending whole records stay valid
        inputs = {f for f, p in properties.items() if "type" in p}
        assert inputs == {"usage_minutes", "support_tickets", "plan_type", "signup_date"}
        assert "number" in properties["usage_minutes"]["type"]
        assert "string" in properties["plan_type"]["type"]
        assert properties["signup_date"]["format"] == "date"
        assert "ignored" in properties["customer_id"]["description"]
        outputs = details["output_schema"]["properties"]
        assert outputs["churned_probability"]["type"] == "number"

        # Get Model Description
        r = await c.get(f"/models/churn-predictor/{version}/describe")
        assert r.status_code == 200, r.text
        described = r.json()
        assert isinstance(described["description"], str) and described["description"]
        assert set(described["features"]) == set(inputs)
        assert described["target"] == "churned"
        assert described["performance"]["accuracy"] == details["metric_value"]

        # Perform Inference, with a row as document 000 shows it (plain input fields)
        row = {
            "usage_minutes": 45,
            "support_tickets": 3,
            "plan_type": "premium",
            "signup_date": "2024-03-20",
        }
        r = await c.post(f"/models/churn-predictor/{version}/infer", json=row)
        assert r.status_code == 200, r.text
        result = r.json()["result"]
        assert set(result) == set(outputs)
        assert 0.0 <= result["churned_probability"] <= 1.0

        # Get All Models
        r = await c.get("/models")
        assert r.status_code == 200, r.text
        (model,) = r.json()["models"]
        for field in ("model_id", "model_name", "status", "created_at", "intent", "provider"):
            assert model[field] == details[field], field
        assert model["metric_name"] == "accuracy"
        assert model["metric_value"] == details["metric_value"]


async def test_document_001_flow(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client  # `Authorization: Bearer`, where document 001 shows it
        async with key_client(stack) as k:  # `x-api-key`, where document 001 shows that
            await _document_001_flow(stack, c, k)


async def _document_001_flow(stack: Stack, c: httpx.AsyncClient, k: httpx.AsyncClient) -> None:
    dataset_id = await stack.upload(churn_rows(300))
    name = "customer-churn-predictor"

    # Create Model
    r = await c.post(
        f"/models/{name}",
        json={
            "intent": "Predict customer churn based on usage patterns",
            "name": "Customer Churn Predictor",
            "description": "Model predicts likelihood of customer churn in the next 30 days",
            "dataset_id": dataset_id,
            "input_schema": {
                "usage_minutes": "float",
                "support_tickets": "integer",
                "plan_type": "string",
            },
            "output_schema": {"churn_probability": "float"},
            "tags": ["production", "customer-retention"],
        },
    )
    assert r.status_code == 202, r.text
    created = r.json()
    assert created["job_id"] and created["status"] == "PENDING"
    assert created["model_name"] == name and created["model_version"] in ("v1", "v1.0")
    assert created["created_at"]

    # Get Model Status, until READY
    status = await poll_status(c, name, created["model_version"])
    assert status["status"] == "READY", status
    assert status["model_name"] == name and status["build_progress"] == 100
    assert status["last_updated"]

    # Get Model
    r = await c.get(f"/models/{name}")
    assert r.status_code == 200, r.text
    model = r.json()
    assert model["name"] == "Customer Churn Predictor"
    assert model["description"].startswith("Model predicts")
    assert model["status"] == "READY" and model["dataset_id"] == dataset_id
    assert model["output_schema"] == {"churn_probability": "float"}
    assert model["input_schema"]["usage_minutes"] == "float"
    assert model["tags"] == ["production", "customer-retention"]
    assert {"accuracy", "precision", "recall"} <= set(model["metrics"])
    # document 001 names it f1_score; the platform calls it f1 (reported, not settled here)
    assert "f1_score" in model["metrics"] or "f1" in model["metrics"]
    assert model["endpoint"].endswith(f"/models/{name}/v1/infer")
    assert model["created_by"]

    # Deploy Model
    r = await c.post(
        f"/models/{name}/deploy",
        json={"environment": "production", "replicas": 2, "auto_scale": True},
    )
    assert r.status_code in (200, 202), r.text
    deployment = r.json()
    deployment_id = deployment["deployment_id"]
    assert deployment["status"] in ("DEPLOYING", "ACTIVE")
    assert deployment["endpoint"].endswith(f"/predict/{deployment_id}")
    assert deployment["environment"] == "production"
    assert deployment["replicas"] == 2 and deployment["auto_scale"] is True

    # List Deployments, until it is ACTIVE
    def active(body: dict[str, Any]) -> bool:
        mine = [d for d in body["deployments"] if d["deployment_id"] == deployment_id]
        assert len(mine) == 1, body
        return bool(mine[0]["status"] == "ACTIVE")

    await poll(lambda: c.get(f"/models/{name}/deployments"), active, "deployment")

    # Make Prediction, through the deployment, with the `x-api-key` header
    row = {"usage_minutes": 120.5, "support_tickets": 2, "plan_type": "premium"}
    r = await k.post(f"/predict/{deployment_id}", json={**row, "signup_date": "2024-01-15"})
    assert r.status_code == 200, r.text
    prediction = r.json()
    assert prediction["request_id"] and prediction["created_at"]
    assert prediction["model_name"] == name and prediction["model_version"] in ("v1", "v1.0")
    assert set(prediction["result"]) == {"churn_probability"}
    assert 0.0 <= prediction["result"]["churn_probability"] <= 1.0
    r = await k.post(f"/models/{name}/v1/infer", json={**row, "signup_date": "2024-01-15"})
    assert r.status_code == 200 and r.json()["result"] == prediction["result"]

    # Retrain Model, with new data
    new_data = await stack.upload(churn_rows(300, seed=2))
    r = await k.post(
        f"/models/{name}/retrain",
        json={
            "upload_id": new_data,
            "goal": "Predict customer churn based on usage patterns",
            "metric": "accuracy",
            "max_iterations": 3,
        },
    )
    assert r.status_code == 202, r.text
    retrain = r.json()
    assert retrain["job_id"] != created["job_id"] and retrain["status"] == "PENDING"
    assert retrain["model_name"] == name and retrain["new_version"] in ("v2", "v2.0")
    status = await poll_status(c, name, retrain["new_version"])
    assert status["status"] == "READY", status

    # List Model Versions
    r = await c.get(f"/models/{name}/versions")
    assert r.status_code == 200, r.text
    versions = r.json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert all(v["status"] == "READY" and v["version_id"] and v["metrics"] for v in versions)
    assert versions[0]["dataset_id"] == new_data and versions[1]["dataset_id"] == dataset_id

    # Get Build Logs, for this model
    r = await k.get("/models/build-logs", params={"model_name": name})
    assert r.status_code == 200, r.text
    logs = r.json()
    assert logs["logs"] and logs["pagination"]["total"] >= len(logs["logs"])
    assert {line["job_id"] for line in logs["logs"]} == {created["job_id"], retrain["job_id"]}
    assert all(line["model_name"] == name and line["message"] for line in logs["logs"])
    assert all(line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR") for line in logs["logs"])

    # Undeploy Model
    r = await c.delete(f"/models/{name}/deployments/{deployment_id}")
    assert r.status_code in (200, 202), r.text
    undeployed = r.json()
    assert undeployed["deployment_id"] == deployment_id
    assert undeployed["status"] == "UNDEPLOYING" and undeployed["undeployed_at"]
    r = await k.post(f"/predict/{deployment_id}", json={**row, "signup_date": "2024-01-15"})
    assert r.status_code == 404, r.text

    # Delete Model
    r = await c.delete(f"/models/{name}")
    assert r.status_code == 200, r.text
    deleted = r.json()
    assert deleted["model_name"] == name and deleted["status"] == "DELETED"
    assert deleted["deleted_at"]
    assert (await c.get(f"/models/{name}")).status_code == 404
    assert (await c.get("/models")).json()["models"] == []
