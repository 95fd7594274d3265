"""A model's versions against the real stack: retrain, new versions, details, status, describe."""

from __future__ import annotations

import asyncio

from intentml.config import Settings
from intentml.events.envelope import decode
from intentml.events.types import BuildProgressed, VersionRequested
from tests.data import CHURN_INTENT, NEGATIVE, POSITIVE, churn_rows
from tests.stack import Stack, error_of, platform_stack


async def progress_of(stack: Stack, job_id: str) -> list[int]:
    """The `build_progress` values the trainer published for a job, in log order."""
    rows = await stack.pool.fetch(
        """SELECT value FROM events WHERE type = 'BuildProgressed' AND accepted
           ORDER BY partition, "offset" """
    )
    values = []
    for r in rows:
        data = decode(r["value"]).data
        assert isinstance(data, BuildProgressed)
        if data.job_id == job_id:
            values.append(data.progress)
    return values


async def test_versions_retrain_details_status_and_describe(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        created = await stack.ready_model("churn", rows=churn_rows(300))

        # --- one version, named every way a path may name it
        v1 = (await c.get("/models/churn/v1")).json()
        assert v1["version"] == 1 and v1["model_version"] == "v1" and v1["status"] == "READY"
        assert v1["model_id"] == created["model_id"] and v1["job_id"] == created["job_id"]
        assert v1["version_id"].startswith("ver_") and v1["target"] == "churned"
        for ref in ("v1", "v1.0", "1", "latest", v1["version_id"]):
            r = await c.get(f"/models/churn/{ref}")
            assert r.status_code == 200, (ref, r.text)
            assert r.json()["version_id"] == v1["version_id"], ref
        for schema in (v1["input_schema"], v1["output_schema"]):
            assert isinstance(schema["properties"], dict) and isinstance(schema["required"], list)
            assert set(schema["required"]) <= set(schema["properties"])
        assert {"usage_minutes", "support_tickets", "plan_type"} <= set(
            v1["input_schema"]["properties"]
        )
        assert "number" in v1["input_schema"]["properties"]["usage_minutes"]["type"]
        # the target and unused columns are accepted and ignored as inputs: typeless, optional
        assert "type" not in v1["input_schema"]["properties"]["churned"]
        assert "churned" not in v1["input_schema"]["required"]
        assert set(v1["output_schema"]["properties"]) == {"churned_probability", "churned"}
        assert v1["metric_name"] == "roc_auc" and v1["metrics"]["roc_auc"] == v1["metric_value"]

        err = error_of(await c.get("/models/churn/v9"), 404, "not_found")
        assert "v9" in err["message"]
        error_of(await c.get("/models/churn/ver_nope"), 404, "not_found")
        err = error_of(await c.get("/models/nope/v1"), 404, "not_found")
        assert "nope" in err["message"]
        error_of(await c.get("/models/nope/latest/describe"), 404, "not_found")
        error_of(await c.get("/models/churn/v9/status"), 404, "not_found")

        # --- build_progress really moved during the build (the archived progress events)
        steps = await progress_of(stack, created["job_id"])
        assert len(set(steps)) >= 3, steps
        assert all(0 < p < 100 for p in steps), steps
        assert steps == sorted(steps), steps
        status = (await c.get("/models/churn/v1/status")).json()
        assert status["status"] == "READY" and status["build_progress"] == 100

        # --- describe: both documents' fields
        d = (await c.get("/models/churn/v1/describe")).json()
        assert d["model_name"] == "churn" and d["model_version"] == "v1"
        assert d["description"] and "churned" in d["description"]
        assert d["target"] == "churned"
        assert {"usage_minutes", "support_tickets", "plan_type"} <= set(d["features"])
        assert "churned" not in d["features"]
        assert d["performance"] == d["performance_metrics"] and "roc_auc" in d["performance"]
        assert d["performance"]["roc_auc"] == v1["metric_value"]
        assert d["input_schema"]["usage_minutes"] == "float"
        assert d["input_schema"]["support_tickets"] == "integer"
        assert d["input_schema"]["plan_type"] == "string"
        assert all(isinstance(t, str) for t in d["input_schema"].values())
        assert set(d["output_schema"]) == {"churned_probability", "churned"}
        assert d["output_schema"]["churned_probability"] == "float"
        info = d["training_info"]
        assert info["dataset_size"] == 300
        assert 0 < info["training_time_minutes"] < 5
        assert "LightGBM" in info["algorithm"]
        importance = info["feature_importance"]
        assert set(importance) <= set(d["features"]) and importance
        assert abs(sum(importance.values()) - 1.0) < 1e-6, importance
        assert max(importance, key=importance.__getitem__) == "usage_minutes"
        for ref in ("1", "latest", v1["version_id"]):
            assert (await c.get(f"/models/churn/{ref}/describe")).json() == d

        # --- retrain {}: v2 is requested; until it is READY, `latest` still names v1
        with stack.hold_trainer():
            r = await c.post("/models/churn/retrain", json={})
            assert r.status_code == 202, r.text
            rt = r.json()
            assert rt["status"] == "PENDING" and rt["new_version"] == "v2"
            assert rt["model_name"] == "churn" and rt["version"] == 2
            assert rt["job_id"].startswith("job_") and rt["job_id"] != created["job_id"]
            assert rt["target"] == "churned" and "v1" in rt["target_reason"]
            assert r.headers["location"] == "/models/churn/v2/status"

            v2 = (await c.get("/models/churn/v2")).json()
            assert v2["status"] in ("PENDING", "BUILDING") and v2["version_id"] == rt["version_id"]
            latest = (await c.get("/models/churn/latest")).json()
            assert latest["version"] == 1 and latest["status"] == "READY"
            out = await c.post("/models/churn/latest/infer", json=POSITIVE)
            assert out.status_code == 200, out.text
            assert out.json()["model_version"] == "v1"
            assert (await c.get("/models/churn/latest/describe")).json()["model_version"] == "v1"
            # the model itself already names its newest version
            model = (await c.get("/models/churn")).json()
            assert model["model_version"] == "v2" and model["ready_version"] == "v1"
            err = error_of(await c.get("/models/churn/v2/describe"), 409, "conflict")
            assert "v2" in err["message"]
            versions = (await c.get("/models/churn/versions")).json()
            assert [v["version"] for v in versions["versions"]] == [2, 1]

        s2 = await stack.wait_status("churn", "v2")
        assert s2["status"] == "READY" and s2["build_progress"] == 100, s2
        v2 = (await c.get("/models/churn/v2")).json()
        assert v2["target"] == "churned" and v2["upload_id"] == v1["upload_id"]
        assert v2["intent"] == CHURN_INTENT
        assert (await c.get("/models/churn/latest")).json()["version"] == 2
        model = (await c.get("/models/churn")).json()
        assert model["model_version"] == "v2" and model["status"] == "READY"
        assert model["ready_version"] == "v2"
        out = (await c.post("/models/churn/latest/infer", json=NEGATIVE)).json()
        assert out["model_version"] == "v2" and out["result"]["churned"] == 0

        # --- retrain on new data with a goal, a metric and max_iterations
        upload2 = await stack.upload(churn_rows(400, seed=7), "more.csv")
        r = await c.post(
            "/models/churn/retrain",
            json={
                "upload_id": upload2,
                "goal": "Predict which customers churned",
                "metric": "accuracy",
                "max_iterations": 3,
            },
        )
        assert r.status_code == 202, r.text
        assert r.json()["new_version"] == "v3" and r.json()["target"] == "churned"
        s3 = await stack.wait_status("churn", "v3")
        assert s3["status"] == "READY", s3
        assert s3["result"]["metric_name"] == "accuracy"
        v3 = (await c.get("/models/churn/v3")).json()
        assert v3["upload_id"] == upload2 and v3["intent"] == "Predict which customers churned"
        assert (await c.get("/models/churn/v3/describe")).json()["training_info"][
            "dataset_size"
        ] == 400

        # --- a new version on a dataset: dataset_id required, intent defaults to the model's
        err = error_of(await c.post("/models/churn/versions", json={}), 422, "validation_error")
        assert "dataset_id" in err["message"]
        asked_schema = {"usage_minutes": "float", "plan_type": "string"}
        r = await c.post(
            "/models/churn/versions",
            json={"dataset_id": v1["upload_id"], "input_schema": asked_schema},
        )
        assert r.status_code == 202, r.text
        nv = r.json()
        requested = decode(
            await stack.pool.fetchval(
                "SELECT value FROM events WHERE type = 'VersionRequested' AND accepted "
                "ORDER BY occurred_at DESC LIMIT 1"
            )
        ).data
        assert isinstance(requested, VersionRequested)
        assert requested.reason == "new_version" and requested.input_schema == asked_schema
        assert nv["version"] == 4 and nv["model_version"] == "v4" and nv["status"] == "PENDING"
        assert nv["version_id"].startswith("ver_") and nv["job_id"].startswith("job_")
        assert (await stack.wait_status("churn", "v4"))["status"] == "READY"
        v4 = (await c.get(f"/models/churn/{nv['version_id']}")).json()
        assert v4["version"] == 4 and v4["upload_id"] == v1["upload_id"]
        assert v4["intent"] == "Predict which customers churned"  # the latest version's

        listed = (await c.get("/models/churn/versions")).json()
        assert listed["model_name"] == "churn" and listed["model_version"] == "v4"
        items = listed["versions"]
        assert [v["version"] for v in items] == [4, 3, 2, 1]
        assert [v["version_id"] for v in items] == [
            nv["version_id"],
            v3["version_id"],
            v2["version_id"],
            v1["version_id"],
        ]
        for v in items:
            assert v["status"] == "READY" and isinstance(v["version"], int)
            assert v["metrics"] and v["metrics"][v["metric_name"]] == v["metric_value"]
        assert (await c.get("/models/churn")).json()["model_version"] == "v4"

        # --- a build that fails: no trained model to describe
        flat = [{**row, "churned": 0} for row in churn_rows(100)]
        upload_flat = await stack.upload(flat, "flat.csv")
        r = await c.post("/models/flat", json={"intent": CHURN_INTENT, "upload_id": upload_flat})
        assert r.status_code == 202, r.text
        failed = await stack.wait_status("flat", "v1")
        assert failed["status"] == "ERROR" and failed["error"]["code"], failed
        err = error_of(await c.get("/models/flat/v1/describe"), 409, "conflict")
        assert "ERROR" in err["message"]
        # `latest` is the newest version when none is READY
        latest = (await c.get("/models/flat/latest")).json()
        assert latest["version"] == 1 and latest["status"] == "ERROR"
        assert latest["error"]["code"] == failed["error"]["code"]


async def test_retrain_errors_races_and_latest_without_ready(settings: Settings) -> None:
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        c = stack.client
        upload_id = await stack.upload(churn_rows(60))
        r = await c.post("/models/m", json={"intent": CHURN_INTENT, "upload_id": upload_id})
        assert r.status_code == 202, r.text

        # nothing READY: `latest` is the newest version, and nothing can be described
        latest = (await c.get("/models/m/latest")).json()
        assert latest["version"] == 1 and latest["status"] == "PENDING"
        error_of(await c.get("/models/m/v1/describe"), 409, "conflict")
        error_of(await c.post("/models/m/latest/infer", json=POSITIVE), 409, "conflict")

        # --- bad requests
        error_of(await c.post("/models/nope/retrain", json={}), 404, "not_found")
        error_of(
            await c.post("/models/nope/versions", json={"dataset_id": upload_id}), 404, "not_found"
        )
        error_of(await c.get("/models/nope/versions"), 404, "not_found")
        err = error_of(
            await c.post("/models/m/retrain", json={"upload_id": "up_nope"}), 404, "not_found"
        )
        assert "upload" in err["message"]
        err = error_of(
            await c.post("/models/m/versions", json={"dataset_id": "up_nope"}), 404, "not_found"
        )
        assert "upload" in err["message"]
        for bad in (
            {"max_iterations": 0},
            {"max_iterations": 51},
            {"max_iterations": "three"},
            {"bogus": 1},
            {"goal": 5},
        ):
            error_of(await c.post("/models/m/retrain", json=bad), 400, "invalid_request")
        error_of(
            await c.post("/models/m/versions", json={"dataset_id": upload_id, "bogus": 1}),
            400,
            "invalid_request",
        )
        for path in ("/models/m/retrain", "/models/m/versions"):
            r = await c.post(
                path, content=b"{not json", headers={"content-type": "application/json"}
            )
            error_of(r, 400, "invalid_request")
        err = error_of(
            await c.post("/models/m/retrain", json={"goal": "Predict the weather"}),
            422,
            "validation_error",
        )
        assert "target" in err["message"]
        # a metric that does not exist is refused at once, not by a failed build
        err = error_of(
            await c.post("/models/m/retrain", json={"metric": "bogus"}), 422, "validation_error"
        )
        assert "bogus" in err["message"] and err["details"][0]["field"] == "metric"
        assert "accuracy" in err["details"][0]["expected"]
        # so is a task that does not exist
        err = error_of(
            await c.post("/models/m/retrain", json={"task": "clustering"}), 422, "validation_error"
        )
        assert "clustering" in err["message"] and err["details"][0]["field"] == "task"
        error_of(
            await c.post("/models/m/versions", json={"dataset_id": upload_id, "metric": "nope"}),
            422,
            "validation_error",
        )
        # none of these requested a version
        assert [v["version"] for v in (await c.get("/models/m/versions")).json()["versions"]] == [1]

        # --- racing retrains: all may pass the pre-check; the log decides
        results = await asyncio.gather(*(c.post("/models/m/retrain", json={}) for _ in range(4)))
        assert all(r.status_code in (202, 409) for r in results), [r.text for r in results]
        won = [r.json() for r in results if r.status_code == 202]
        lost = [r.json() for r in results if r.status_code == 409]
        assert won, [r.text for r in results]
        for body in lost:
            assert body["error"]["code"] == "conflict" and "retry" in body["error"]["message"]
        named = [b["version"] for b in won]
        assert len(set(named)) == len(named), named  # each 202 names its own version
        versions = (await c.get("/models/m/versions")).json()["versions"]
        numbers = [v["version"] for v in versions]
        assert len(set(numbers)) == len(numbers), numbers  # no two versions share a number
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), numbers
        assert sorted(numbers) == sorted([1, *named])
        by_number = {v["version"]: v for v in versions}
        for body in won:
            assert by_number[body["version"]]["job_id"] == body["job_id"]
            assert body["new_version"] == f"v{body['version']}"
        rejected = await stack.pool.fetch(
            "SELECT reason FROM events WHERE type = 'VersionRequested' AND NOT accepted"
        )
        assert len(rejected) == len(lost)
        assert all("next version" in r["reason"] for r in rejected), rejected

        # `latest` with nothing READY is the newest version
        newest = max(numbers)
        assert (await c.get("/models/m/latest")).json()["version"] == newest
        assert (await c.get("/models/m")).json()["model_version"] == f"v{newest}"

        # a retrain after the race takes the next number; every field is optional, even the body
        r = await c.post("/models/m/retrain")
        assert r.status_code == 202 and r.json()["version"] == newest + 1, r.text
