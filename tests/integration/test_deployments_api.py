"""Deployments against the real stack: deploy, predict through it, replace, undeploy, delete."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

from intentml.config import Settings
from tests.data import CHURN_INTENT, NEGATIVE, POSITIVE, churn_rows
from tests.stack import Stack, error_of, platform_stack


async def deployments(stack: Stack, model: str) -> dict[str, dict[str, Any]]:
    """The model's live deployments by id."""
    r = await stack.client.get(f"/models/{model}/deployments")
    assert r.status_code == 200, r.text
    return {d["deployment_id"]: d for d in r.json()["deployments"]}


async def wait_deployments(
    stack: Stack, model: str, expected: dict[str, str], timeout_s: float = 30.0
) -> dict[str, dict[str, Any]]:
    """Poll the list, as a client would, until the live deployments are exactly `expected`
    (deployment_id → status)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        live = await deployments(stack, model)
        if {k: d["status"] for k, d in live.items()} == expected:
            return live
        assert asyncio.get_running_loop().time() < deadline, f"{live} is not {expected}"
        await asyncio.sleep(0.05)  # a client polling the list


async def wait_not_found(stack: Stack, deployment_id: str, timeout_s: float = 10.0) -> None:
    """Poll /predict until it answers 404: a replacement happens in the deployer, and the
    API learns of it through the projector's notification, not through this client."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        r = await stack.client.post(f"/predict/{deployment_id}", json=POSITIVE)
        if r.status_code == 404:
            error_of(r, 404, "not_found")
            return
        assert r.status_code == 200, r.text
        assert asyncio.get_running_loop().time() < deadline, "the replaced deployment still serves"
        await asyncio.sleep(0.02)


async def test_deploy_predict_replace_and_undeploy(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        await stack.ready_model("churn", rows=churn_rows(300))
        model = (await c.get("/models/churn")).json()
        assert model["deployment_status"] is None

        # --- deploy with the defaults: production, 1 replica, auto-scale, latest READY
        r = await c.post("/models/churn/deploy", json={})
        assert r.status_code == 202, r.text
        first = r.json()
        dep1 = first["deployment_id"]
        assert dep1.startswith("dep_") and first["status"] in ("DEPLOYING", "ACTIVE")
        assert first["environment"] == "production" and first["replicas"] == 1
        assert first["auto_scale"] is True
        assert first["model_name"] == "churn" and first["model_version"] == "v1"
        assert first["version"] == 1
        assert first["endpoint"].endswith(f"/predict/{dep1}")
        assert first["endpoint"].startswith("http")
        assert r.headers["location"] == "/models/churn/deployments"

        live = await wait_deployments(stack, "churn", {dep1: "ACTIVE"})
        assert live[dep1]["endpoint"] == first["endpoint"]
        assert live[dep1]["version_id"] == (await c.get("/models/churn/v1")).json()["version_id"]

        for row in (POSITIVE, NEGATIVE):
            via_dep = await c.post(f"/predict/{dep1}", json=row)
            direct = await c.post("/models/churn/v1/infer", json=row)
            assert via_dep.status_code == 200, via_dep.text
            assert direct.status_code == 200, direct.text
            assert via_dep.json()["result"] == direct.json()["result"]
            assert via_dep.json()["deployment_id"] == dep1
            assert via_dep.json()["model_version"] == "v1"
        pos = (await c.post(f"/predict/{dep1}", json=POSITIVE)).json()["result"]
        neg = (await c.post(f"/predict/{dep1}", json=NEGATIVE)).json()["result"]
        assert pos["churned_probability"] > neg["churned_probability"]
        # the deployment validates like /infer does
        bad = await c.post(f"/predict/{dep1}", json={**POSITIVE, "usage_minutes": "lots"})
        error_of(bad, 422, "validation_error")

        assert (await c.get("/models/churn")).json()["deployment_status"] == "DEPLOYED"
        assert (await c.get("/models/churn/v1/status")).json()["deployment_status"] == "DEPLOYED"
        listed = (await c.get("/models")).json()["models"]
        assert listed[0]["deployment_status"] == "DEPLOYED"

        # --- a second production deployment replaces the first; staging coexists
        r = await c.post(
            "/models/churn/deploy",
            json={"model_version": "v1", "replicas": 2, "auto_scale": False},
        )
        assert r.status_code == 202, r.text
        second = r.json()
        dep2 = second["deployment_id"]
        assert dep2 != dep1 and second["replicas"] == 2 and second["auto_scale"] is False
        live = await wait_deployments(stack, "churn", {dep2: "ACTIVE"})
        assert live[dep2]["environment"] == "production"
        await wait_not_found(stack, dep1)
        assert (await c.post(f"/predict/{dep2}", json=POSITIVE)).status_code == 200
        gone = await stack.pool.fetchrow(
            "SELECT status, ended_at FROM deployments WHERE deployment_id = $1", dep1
        )
        assert gone["status"] == "REPLACED" and gone["ended_at"] is not None
        # the replaced one is no longer live: it cannot be undeployed
        error_of(await c.delete(f"/models/churn/deployments/{dep1}"), 404, "not_found")

        r = await c.post("/models/churn/deploy", json={"environment": "staging"})
        assert r.status_code == 202, r.text
        dep3 = r.json()["deployment_id"]
        assert r.json()["environment"] == "staging"
        live = await wait_deployments(stack, "churn", {dep2: "ACTIVE", dep3: "ACTIVE"})
        assert list(live) == [dep3, dep2]  # newest first
        assert (await c.post(f"/predict/{dep3}", json=POSITIVE)).status_code == 200
        assert (await c.post(f"/predict/{dep2}", json=POSITIVE)).status_code == 200

        # --- undeploy staging: serving stops at once, then it leaves the list
        r = await c.delete(f"/models/churn/deployments/{dep3}")
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "UNDEPLOYING" and body["deployment_id"] == dep3
        assert body["model_name"] == "churn" and body["model_version"] == "v1"
        assert body["undeployed_at"]
        error_of(await c.post(f"/predict/{dep3}", json=POSITIVE), 404, "not_found")
        again = await c.delete(f"/models/churn/deployments/{dep3}")
        assert again.status_code in (404, 409), again.text
        error_of(again, again.status_code, {404: "not_found", 409: "conflict"}[again.status_code])
        await wait_deployments(stack, "churn", {dep2: "ACTIVE"})
        error_of(await c.delete(f"/models/churn/deployments/{dep3}"), 404, "not_found")
        error_of(await c.post(f"/predict/{dep3}", json=POSITIVE), 404, "not_found")
        error_of(await c.delete("/models/churn/deployments/dep_nope"), 404, "not_found")
        error_of(await c.delete(f"/models/nope/deployments/{dep2}"), 404, "not_found")
        error_of(await c.post("/predict/dep_nope", json=POSITIVE), 404, "not_found")
        # production still serves
        assert (await c.post(f"/predict/{dep2}", json=NEGATIVE)).json()["result"]["churned"] == 0

        # --- deleting the model stops its ACTIVE deployment at once
        r = await c.delete("/models/churn")
        assert r.status_code == 200, r.text
        error_of(await c.post(f"/predict/{dep2}", json=POSITIVE), 404, "not_found")
        error_of(await c.get("/models/churn/deployments"), 404, "not_found")
        ended = await stack.pool.fetch("SELECT status FROM deployments WHERE ended_at IS NULL")
        assert ended == []

        # the name can be created again: the new model starts without deployments
        await stack.ready_model("churn", rows=churn_rows(200, seed=3))
        assert await deployments(stack, "churn") == {}
        error_of(await c.post(f"/predict/{dep2}", json=POSITIVE), 404, "not_found")


async def test_deploy_errors_and_races(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        await stack.ready_model("churn", rows=churn_rows(300))

        # --- bad bodies and unknown names
        error_of(await c.post("/models/nope/deploy", json={}), 404, "not_found")
        error_of(await c.get("/models/nope/deployments"), 404, "not_found")
        for bad in (
            {"replicas": 0},
            {"replicas": "two"},
            {"environment": "Prod Env!"},
            {"environment": ""},
            {"auto_scale": "yes"},
            {"bogus": 1},
        ):
            error_of(await c.post("/models/churn/deploy", json=bad), 400, "invalid_request")
        r = await c.post(
            "/models/churn/deploy",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        error_of(r, 400, "invalid_request")
        err = error_of(
            await c.post("/models/churn/deploy", json={"model_version": "v9"}), 404, "not_found"
        )
        assert "v9" in err["message"]

        # --- a version still building cannot be deployed; `latest` still deploys v1
        with stack.hold_trainer():
            r = await c.post("/models/churn/retrain", json={})
            assert r.status_code == 202 and r.json()["new_version"] == "v2", r.text
            err = error_of(
                await c.post("/models/churn/deploy", json={"model_version": "v2"}), 409, "conflict"
            )
            assert "v2" in err["message"] and "READY" in err["message"]
            r = await c.post("/models/churn/deploy")  # every field has a default: no body
            assert r.status_code == 202, r.text
            assert r.json()["model_version"] == "v1"
            assert r.json()["environment"] == "production"
            dep = r.json()["deployment_id"]
            # the deployer does not need the trainer
            await wait_deployments(stack, "churn", {dep: "ACTIVE"})
        assert (await stack.wait_status("churn", "v2"))["status"] == "READY"
        assert (await c.get("/models/churn/v2/status")).json()["deployment_status"] is None
        assert (await c.get("/models/churn/v1/status")).json()["deployment_status"] == "DEPLOYED"

        # --- racing deploys to one environment: the log orders them, the later one stays
        results = await asyncio.gather(
            *(
                c.post("/models/churn/deploy", json={"environment": "canary", "model_version": v})
                for v in ("v1", "v2")
            )
        )
        assert [r.status_code for r in results] == [202, 202], [r.text for r in results]
        canary = {r.json()["deployment_id"] for r in results}
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            live = await deployments(stack, "churn")
            mine = [d for d in live.values() if d["environment"] == "canary"]
            if len(mine) == 1 and mine[0]["status"] == "ACTIVE":
                break
            assert all(d["deployment_id"] in canary for d in mine), mine
            assert asyncio.get_running_loop().time() < deadline, live
            await asyncio.sleep(0.05)  # a client polling the list
        winner = mine[0]["deployment_id"]
        (loser,) = canary - {winner}
        rows = await stack.pool.fetch(
            "SELECT deployment_id, status FROM deployments WHERE environment = 'canary'"
        )
        assert {r["deployment_id"]: r["status"] for r in rows} == {
            winner: "ACTIVE",
            loser: "REPLACED",
        }
        assert live[dep]["status"] == "ACTIVE"  # production is untouched
        await wait_not_found(stack, loser)

        # --- racing undeploys of one deployment: one is accepted
        results = await asyncio.gather(
            *(c.delete(f"/models/churn/deployments/{winner}") for _ in range(3))
        )
        codes = sorted(r.status_code for r in results)
        assert codes[0] == 202 and codes.count(202) == 1, [r.text for r in results]
        assert set(codes[1:]) <= {404, 409}, [r.text for r in results]
        error_of(await c.post(f"/predict/{winner}", json=POSITIVE), 404, "not_found")
        await wait_deployments(stack, "churn", {dep: "ACTIVE"})
        stops = await stack.pool.fetchval(
            "SELECT count(*) FROM events WHERE type = 'DeploymentStopped' AND accepted"
        )
        assert stops == 1

        # --- a deployment whose artifact is gone fails the deployer's check and never serves
        v2 = await stack.pool.fetchrow("SELECT artifact FROM versions WHERE version = 2")
        shutil.rmtree(settings.data_dir / v2["artifact"])
        r = await c.post("/models/churn/deploy", json={"model_version": "2"})
        assert r.status_code == 202, r.text
        broken = r.json()["deployment_id"]
        await wait_deployments(stack, "churn", {dep: "ACTIVE"})
        failed = await stack.pool.fetchrow(
            "SELECT status, error_message FROM deployments WHERE deployment_id = $1", broken
        )
        assert failed["status"] == "FAILED" and "v2" in failed["error_message"], dict(failed)
        shown = await c.get(f"/models/churn/deployments/{broken}")
        assert shown.status_code == 200, shown.text
        assert (
            shown.json()["status"] == "FAILED" and shown.json()["error"] == failed["error_message"]
        )
        assert (await c.get(f"/models/churn/deployments/{dep}")).json()["status"] == "ACTIVE"
        error_of(await c.get("/models/churn/deployments/dep_nope"), 404, "not_found")
        error_of(await c.post(f"/predict/{broken}", json=POSITIVE), 404, "not_found")
        assert (await c.post(f"/predict/{dep}", json=POSITIVE)).status_code == 200

        # --- an ERROR version cannot be deployed
        flat = [{**row, "churned": 0} for row in churn_rows(100)]
        upload_flat = await stack.upload(flat, "flat.csv")
        r = await c.post("/models/flat", json={"intent": CHURN_INTENT, "upload_id": upload_flat})
        assert r.status_code == 202, r.text
        assert (await stack.wait_status("flat", "v1"))["status"] == "ERROR"
        for body in ({}, {"model_version": "v1"}):
            err = error_of(await c.post("/models/flat/deploy", json=body), 409, "conflict")
            assert "ERROR" in err["message"]
        assert await deployments(stack, "flat") == {}
        # a deployment of another model is not this model's
        error_of(await c.delete(f"/models/flat/deployments/{dep}"), 404, "not_found")
        rejected = await stack.pool.fetchval(
            "SELECT count(*) FROM events WHERE type = 'DeploymentRequested' AND NOT accepted"
        )
        assert rejected == 0  # every one of these was stopped before the log
