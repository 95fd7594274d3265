"""`POST /models/{name}/plan` against the real stack: what create would do, nothing appended."""

from __future__ import annotations

from typing import Any

import numpy as np

from intentml.config import Settings
from tests.data import CHURN_INTENT, churn_rows
from tests.stack import error_of, platform_stack


def _claims(n: int = 300, seed: int = 3) -> list[dict[str, object]]:
    """Drivers and the claims they file (0-4, more with more miles), row numbers kept."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        miles = float(rng.uniform(1, 30))
        rows.append(
            {
                "rownames": 3 * i + 1,
                "miles_k": round(miles, 1),
                "age": int(rng.integers(18, 80)),
                "region": str(rng.choice(["north", "south", "east"])),
                "ClaimNb": int(min(4, rng.poisson(miles / 12))),
            }
        )
    return rows


async def _events(stack: Any) -> int:
    count: int = await stack.pool.fetchval("SELECT count(*) FROM events")
    return count


async def test_a_plan_says_what_create_would_do_and_appends_nothing(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        upload_id = await stack.upload(churn_rows(200))
        before = await _events(stack)
        body = {"intent": CHURN_INTENT, "upload_id": upload_id}
        r = await c.post("/models/churn/plan", json=body)
        assert r.status_code == 200, r.text
        plan = r.json()
        assert plan["would_create"] is True and plan["problems"] == []
        assert plan["model_name"] == "churn" and plan["dataset_id"] == upload_id
        assert plan["target"]["column"] == "churned"
        assert "churn" in plan["target"]["reason"]
        assert plan["alternatives"][0]["column"] == "churned"
        assert plan["task"] == {
            "name": "binary",
            "reason": "'churned' has exactly 2 distinct values",
        }
        assert plan["metric"]["name"] == "roc_auc"
        assert {i["column"] for i in plan["inputs"]} == {
            "usage_minutes",
            "support_tickets",
            "plan_type",
            "signup_date",
        }
        assert [d["column"] for d in plan["dropped"]] == ["customer_id"]
        assert "identifier" in plan["dropped"][0]["reason"]
        assert plan["outputs"] == [
            {"field": "churned_probability", "kind": "probability"},
            {"field": "churned", "kind": "label"},
        ]
        assert plan["interpretation"] is None
        # A dry run: no event, no model.
        assert await _events(stack) == before
        assert (await c.get("/models/churn")).status_code == 404


async def test_an_unclear_sentence_is_planned_with_its_candidates(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        upload_id = await stack.upload(churn_rows(120))
        r = await stack.client.post(
            "/models/m/plan", json={"intent": "Predict the weather", "upload_id": upload_id}
        )
        assert r.status_code == 200, r.text
        plan = r.json()
        assert plan["would_create"] is False and plan["target"] is None
        assert plan["task"] is None and plan["outputs"] == []
        assert plan["problems"][0]["field"] == "target"
        assert "set the `target` field" in plan["problems"][0]["message"]
        # The same body at create: the 422 create gives, with the same candidates.
        refused = await stack.client.post(
            "/models/m", json={"intent": "Predict the weather", "upload_id": upload_id}
        )
        details = error_of(refused, 422, "validation_error")["details"]
        assert [c["column"] for c in details["candidates"]][:3] == [
            a["column"] for a in plan["alternatives"]
        ][:3]


async def test_a_plan_lists_what_create_would_refuse(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        await stack.ready_model("taken", rows=churn_rows(150), max_iterations=1)
        upload_id = await stack.upload(churn_rows(120))
        body = {
            "intent": CHURN_INTENT,
            "upload_id": upload_id,
            # A regression of 0/1 cannot say a risk level (binary only).
            "task": "regression",
            "output_schema": {"risk_level": "string"},
        }
        plan = (await c.post("/models/taken/plan", json=body)).json()
        assert plan["would_create"] is False
        fields = [p["field"] for p in plan["problems"]]
        assert fields == ["model_name", "output_schema.risk_level"]
        assert "taken" in plan["problems"][0]["message"]
        # Nothing to plan: a 4xx, as create would answer.
        missing = await c.post("/models/x/plan", json={"intent": "churn", "upload_id": "upl_nope"})
        error_of(missing, 404, "not_found")
        bad = await c.post(
            "/models/x/plan", json={"intent": "churn", "upload_id": upload_id, "metric": "nope"}
        )
        error_of(bad, 422, "validation_error")


async def test_how_many_plans_and_trains_a_regression_on_counts(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        upload_id = await stack.upload(_claims())
        body = {
            "intent": "How many claims will this driver file?",
            "upload_id": upload_id,
            "max_iterations": 2,
        }
        plan = (await c.post("/models/claims/plan", json=body)).json()
        assert plan["target"]["column"] == "ClaimNb"
        assert plan["task"]["name"] == "regression"
        assert plan["task"]["reason"].startswith("'how many' asks for a count")
        dropped = {d["column"]: d["reason"] for d in plan["dropped"]}
        assert "row index" in dropped["rownames"]
        assert (await c.post("/models/claims", json=body)).status_code == 202
        status = await stack.wait_status("claims", "v1")
        assert status["status"] == "READY", status
        d = (await c.get("/models/claims/v1/describe")).json()
        choices = d["choices"]
        assert choices["task"]["value"] == plan["task"]["name"]
        assert choices["task"]["reason"] == plan["task"]["reason"]
        assert choices["metric"]["value"] == plan["metric"]["name"]
        assert "row index" in d["data_summary"]["dropped_columns"]["rownames"]
        assert set(d["data_summary"]["inputs"]) == {i["column"] for i in plan["inputs"]}


async def test_a_plan_says_when_the_build_would_fail(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        rows = [{**r, "region": "north"} for r in churn_rows(120)]
        upload_id = await stack.upload(rows)
        body = {"intent": "Predict the region", "upload_id": upload_id, "target": "region"}
        plan = (await stack.client.post("/models/r/plan", json=body)).json()
        # Create accepts it (the target names a column); the build fails on its values.
        assert plan["would_create"] is True and plan["target"]["column"] == "region"
        assert plan["task"] is None
        failing = [n for n in plan["notes"] if n.startswith("the build would fail")]
        assert failing and "every row has the same value for 'region' ('north')" in failing[0]
