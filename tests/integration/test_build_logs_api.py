"""`GET /models/build-logs` against the real stack: what a build writes, filters, pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from intentml.config import Settings
from tests.data import churn_rows
from tests.stack import bad_request, platform_stack

LINE_FIELDS = {"job_id", "model_name", "model_version", "timestamp", "level", "message"}


async def _logs(c: httpx.AsyncClient, **params: object) -> dict[str, Any]:
    r = await c.get("/models/build-logs", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_build_logs(settings: Settings) -> None:
    async with platform_stack(settings, deployer=True) as stack:
        c = stack.client
        churn = await stack.ready_model("churn")
        job = churn["job_id"]
        flat_rows = [{**row, "churned": 0} for row in churn_rows(300)]
        upload_id = await stack.upload(flat_rows)
        r = await c.post("/models/flat", json={"intent": "Predict churn", "upload_id": upload_id})
        assert r.status_code == 202, r.text
        flat_job = r.json()["job_id"]
        failed = await stack.wait_status("flat")
        assert failed["status"] == "ERROR" and failed["error"]["code"] == "target_single_class"

        # --- everything, oldest first
        everything = await _logs(c)
        lines = everything["logs"]
        assert everything["pagination"] == {
            "total": len(lines),
            "limit": 100,
            "offset": 0,
            "has_more": False,
        }
        assert {line["job_id"] for line in lines} == {job, flat_job}
        for line in lines:
            assert set(line) == LINE_FIELDS, line
            assert line["model_version"] == "v1" and line["level"] in ("INFO", "ERROR")
            assert line["message"]
        stamps = [datetime.fromisoformat(line["timestamp"]) for line in lines]
        assert stamps == sorted(stamps)

        # --- one job: the whole story of a READY build, in order
        mine = await _logs(c, job_id=job)
        ours = mine["logs"]
        assert mine["pagination"]["total"] == len(ours) and not mine["pagination"]["has_more"]
        assert ours == [line for line in lines if line["job_id"] == job]
        assert all(line["model_name"] == "churn" and line["level"] == "INFO" for line in ours)
        text = [line["message"] for line in ours]
        assert text[0].startswith("build requested for churn v1 on dataset ")
        assert churn["upload_id"] in text[0]
        assert "Predict customer churn based on usage patterns" in text[0]
        assert any(t.startswith("target: churned") for t in text)
        start = next(i for i, t in enumerate(text) if t.startswith("build started"))
        loaded = next(i for i, t in enumerate(text) if t.startswith("loaded 300 rows"))
        training = next(i for i, t in enumerate(text) if t.startswith("holding out "))
        first = next(i for i, t in enumerate(text) if t.startswith("candidate 1/10: "))
        best = next(i for i, t in enumerate(text) if t.startswith("chose candidate "))
        tested = next(i for i, t in enumerate(text) if t.startswith("test roc_auc "))
        metric = next(i for i, t in enumerate(text) if t.startswith("trained: roc_auc = "))
        assert 0 < start < loaded < training < first < best < tested < metric < len(text) - 1
        assert "cross-validation" in text[best] and "held-out rows" in text[tested]
        assert text[-1] == "v1 is READY"
        status = (await c.get("/models/churn/v1/status")).json()
        assert f"{status['result']['metric_value']:.4f}" in text[metric]

        # --- the failed build: its lines, with the failure as an ERROR
        flat = await _logs(c, job_id=flat_job)
        assert {line["model_name"] for line in flat["logs"]} == {"flat"}
        assert all(line["job_id"] == flat_job for line in flat["logs"])
        errors = [line for line in flat["logs"] if line["level"] == "ERROR"]
        assert len(errors) == 1 and errors == flat["logs"][-1:]
        assert "target_single_class" in errors[0]["message"]
        assert any(line["message"].startswith("build started") for line in flat["logs"])
        assert all(line["level"] == "INFO" for line in flat["logs"][:-1])

        # --- model_name filter; both filters at once
        assert (await _logs(c, model_name="flat"))["logs"] == flat["logs"]
        assert (await _logs(c, model_name="churn"))["logs"] == ours
        assert (await _logs(c, model_name="churn", job_id=job))["logs"] == ours
        for params in (
            {"job_id": "job_nope"},
            {"model_name": "nope"},
            {"model_name": "flat", "job_id": job},
        ):
            none = await _logs(c, **params)
            assert none["logs"] == [], params
            assert none["pagination"] == {"total": 0, "limit": 100, "offset": 0, "has_more": False}

        # --- pagination: pages put together give the whole list
        total = len(ours)
        assert total > 6
        pages: list[dict[str, Any]] = []
        for offset in range(0, total, 4):
            page = await _logs(c, job_id=job, limit=4, offset=offset)
            assert page["pagination"] == {
                "total": total,
                "limit": 4,
                "offset": offset,
                "has_more": offset + 4 < total,
            }
            pages += page["logs"]
        assert pages == ours
        past = await _logs(c, job_id=job, limit=4, offset=total)
        assert past["logs"] == [] and past["pagination"]["has_more"] is False
        assert (await _logs(c, limit=1000))["pagination"]["limit"] == 1000
        huge = await _logs(c, offset=2**63 - 1)
        assert huge["logs"] == [] and huge["pagination"]["total"] == len(lines)
        for query in (
            "limit=0",
            "limit=1001",
            "limit=-1",
            "offset=-1",
            "limit=abc",
            "offset=x",
            "offset=99999999999999999999",
        ):
            bad_request(await c.get(f"/models/build-logs?{query}"))

        # --- `build-logs` is a path of the API, never a model
        r = await c.post(
            "/models/build-logs", json={"intent": "Predict churn", "upload_id": upload_id}
        )
        bad_request(r)
        assert "build-logs" in r.json()["error"]["message"]
        models = (await c.get("/models")).json()
        assert sorted(m["model_name"] for m in models["models"]) == ["churn", "flat"]
        r = await c.get("/models/build-logs")
        assert r.status_code == 200 and set(r.json()) == {"logs", "pagination"}
