"""From intent to model against the real stack: search, report, data handling, failures."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np

from intentml.config import Settings
from tests.data import CHURN_INTENT, churn_rows
from tests.stack import error_of, platform_stack


def messy_rows(n: int = 400, seed: int = 5) -> list[dict[str, object]]:
    """Subscriptions with dates, timestamps and gaps everywhere; renewals follow usage."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        usage = float(rng.uniform(0, 100))
        renewed = "yes" if (usage > 40) ^ (rng.random() < 0.05) else "no"
        started = date(2022, 1, 1) + timedelta(days=int(rng.integers(0, 900)))
        seen = datetime(2024, 5, 1, 8) + timedelta(minutes=int(rng.integers(0, 60 * 24 * 60)))
        rows.append(
            {
                "account": f"a{i:04d}",
                "weekly_usage": "" if rng.random() < 0.1 else round(usage, 1),
                "region": "" if rng.random() < 0.15 else str(rng.choice(["north", "south"])),
                "started_on": "" if rng.random() < 0.1 else started.isoformat(),
                "last_login": seen.isoformat() + "Z",
                "seats": int(rng.integers(1, 50)),
                "renewed": renewed if rng.random() > 0.03 else "",  # some outcomes unknown
            }
        )
    return rows


async def test_dates_gaps_search_and_describe(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        rows = messy_rows()
        await stack.ready_model(
            "renewals",
            rows=rows,
            intent="Predict renewal from weekly usage",
            max_iterations=3,
        )
        d = (await c.get("/models/renewals/v1/describe")).json()

        choices = d["choices"]
        assert choices["target"]["value"] == "renewed"
        assert "renew" in choices["target"]["reason"]
        assert choices["task"] == {
            "value": "binary",
            "reason": "'renewed' has exactly 2 distinct values",
        }
        assert choices["metric"]["value"] == "roc_auc" == d["metric_name"]
        assert "binary default" in choices["metric"]["reason"]

        data = d["data_summary"]
        missing_target = sum(1 for r in rows if r["renewed"] == "")
        assert data["rows_total"] == 400 and data["rows_missing_target"] == missing_target
        assert data["rows_used"] == 400 - missing_target == d["training_info"]["dataset_size"]
        assert data["selection_rows"] + data["test_rows"] == data["rows_used"]
        assert "identifier" in data["dropped_columns"]["account"]
        assert {"weekly_usage", "region", "started_on", "last_login", "seats"} == set(
            data["inputs"]
        )
        assert d["warnings"] == []
        # Measured against always "no"/"yes" with the training shares on the same rows.
        baseline = d["baseline"]
        assert baseline["strategy"].startswith("always the majority class")
        assert baseline["metric"] == "roc_auc" and baseline["value"] == 0.5
        assert baseline["model_value"] == d["metric_value"]
        assert baseline["clearly_better"] and baseline["skill"] > 0.5
        assert set(baseline["metrics"]) >= {"accuracy", "log_loss"}

        # Three candidates, ranked best first; the selected one is the best.
        board = d["leaderboard"]
        assert [e["rank"] for e in board] == [1, 2, 3]
        assert sorted(e["iteration"] for e in board) == [1, 2, 3]
        assert board[0]["selected"] and not any(e["selected"] for e in board[1:])
        assert board[0]["score"] >= board[-1]["score"]
        assert {"learning_rate", "num_leaves", "min_data_in_leaf"} <= set(board[0]["params"])
        assert d["search"]["candidates_tried"] == 3 and d["search"]["stopped"] == ""
        assert "cross-validation" in d["search"]["evaluation"]

        # The test evaluation: every metric, a confusion matrix over the test rows.
        assert {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"} <= set(
            d["performance_metrics"]
        )
        assert d["performance_metrics"]["roc_auc"] > 0.85
        matrix = d["confusion_matrix"]
        assert matrix["labels"] == ["no", "yes"]
        assert sum(map(sum, matrix["matrix"])) == d["test_rows"] == data["test_rows"]
        assert set(d["per_class_metrics"]) == {"no", "yes"}
        importance = d["training_info"]["feature_importance"]
        assert max(importance, key=importance.__getitem__) == "weekly_usage"

        # Build logs show every choice and every candidate.
        logs = (await c.get("/models/build-logs", params={"model_name": "renewals"})).json()
        text = "\n".join(line["message"] for line in logs["logs"])
        assert "metric: roc_auc (binary default" in text
        for i in (1, 2, 3):
            assert f"candidate {i}/3: " in text
        assert "chose candidate" in text

        # Serving takes dates, timestamps and gaps.
        r = await c.post(
            "/models/renewals/v1/infer",
            json={
                "weekly_usage": 90.0,
                "region": None,
                "started_on": "2023-04-05",
                "last_login": "2024-06-01T10:00:00Z",
                "seats": 3,
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["result"]["renewed"] == "yes"
        # Fields that had gaps in training may be left out; last_login never had one.
        r = await c.post(
            "/models/renewals/v1/infer",
            json={"seats": 3, "weekly_usage": 2.0, "last_login": "2024-06-01T10:00:00Z"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["result"]["renewed"] == "no"


async def test_builds_that_cannot_succeed_say_why(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        one_class = await stack.upload([{**r, "churned": 1} for r in churn_rows(100)])
        few = await stack.upload(churn_rows(12))
        for name, upload in (("oneclass", one_class), ("few", few)):
            r = await c.post(f"/models/{name}", json={"intent": CHURN_INTENT, "upload_id": upload})
            assert r.status_code == 202, r.text
        status = await stack.wait_status("oneclass")
        assert status["status"] == "ERROR"
        assert status["error"]["code"] == "target_single_class"
        assert "every row has the same value for 'churned'" in status["error"]["message"]
        status = await stack.wait_status("few")
        assert status["error"]["code"] == "too_few_rows"
        assert "only 12 rows" in status["error"]["message"]

        # Caught before anything is appended: unknown metric, impossible budgets.
        err = error_of(
            await c.post(
                "/models/m", json={"intent": CHURN_INTENT, "upload_id": few, "metric": "gini"}
            ),
            422,
            "validation_error",
        )
        assert "roc_auc" in err["details"][0]["expected"]
        for bad in ({"max_iterations": 51}, {"max_iterations": 0}, {"time_budget_s": 0}):
            r = await c.post("/models/m", json={"intent": CHURN_INTENT, "upload_id": few, **bad})
            assert r.status_code == 400, (bad, r.text)
            assert next(iter(bad)) in r.text
        # Output fields no model of this target could fill: 422 naming each.
        r = await c.post(
            "/models/m",
            json={
                "intent": CHURN_INTENT,
                "upload_id": few,
                "target": "churned",
                "output_schema": {"churned_probability": "float", "usage_minutes": "float"},
            },
        )
        err = error_of(r, 422, "validation_error")
        assert [d["field"] for d in err["details"]] == ["output_schema.usage_minutes"]
        assert "an input the model reads" in err["details"][0]["message"]
        assert (await c.get("/models/m")).status_code == 404

        # A whole-number target might have become classes, so the create is accepted;
        # once it turns out to be a regression, the build says why it cannot go on.
        spend = await stack.upload(
            [{"visits": i % 17, "spend": (i * 37) % 1000} for i in range(200)]
        )
        r = await c.post(
            "/models/spend",
            json={
                "intent": "Predict spend",
                "upload_id": spend,
                "output_schema": {"spend_probability": "float"},
            },
        )
        assert r.status_code == 202, r.text
        status = await stack.wait_status("spend")
        assert status["error"]["code"] == "output_unfillable"
        assert "'spend_probability': a regression predicts a number" in status["error"]["message"]


async def test_time_budget_limits_the_search(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        await stack.ready_model("budget", max_iterations=20, time_budget_s=0.001)
        d = (await stack.client.get("/models/budget/v1/describe")).json()
        assert d["search"]["candidates_tried"] == 1
        assert d["search"]["stopped"].startswith("time budget of 0.001 s reached after 1 of 20")
        detail = (await stack.client.get("/models/budget/v1")).json()
        assert detail["status"] == "READY"
        # The status says the model is the best of a search cut short.
        status = (await stack.client.get("/models/budget/v1/status")).json()
        assert status["status_reason"] == (
            "READY with the best candidate found before the search stopped: "
            + d["search"]["stopped"]
        )
        alone = await stack.ready_model("whole", max_iterations=1)
        assert "status_reason" not in alone  # only said when there is something to say


async def test_odd_data_gets_honest_results(settings: Settings) -> None:
    async with platform_stack(settings) as stack:
        c = stack.client
        rng = np.random.default_rng(11)
        # Inputs with nothing to say about the outcome: READY, with a warning.
        noise = [
            {"a": round(float(rng.normal()), 3), "b": int(rng.integers(0, 5)), "y": int(y)}
            for y in rng.integers(0, 2, 600)
        ]
        await stack.ready_model("noise", rows=noise, intent="Predict y", max_iterations=2)
        d = (await c.get("/models/noise/v1/describe")).json()
        baseline = d["baseline"]
        assert baseline["metric"] == "roc_auc" and not baseline["clearly_better"]
        assert baseline["model_value"] == d["metric_value"]
        (warning,) = d["warnings"]
        assert "better than a trivial baseline" in warning
        logs = (await c.get("/models/build-logs", params={"model_name": "noise"})).json()
        messages = [line["message"] for line in logs["logs"]]
        assert f"warning: {warning}" in messages
        assert any(m.startswith("baseline (always the majority class") for m in messages)

        # 299 rows of one class and 1 of the other: a clear failure, not accuracy 1.0.
        rare = [{"a": i, "b": i % 7, "y": int(i == 150)} for i in range(300)]
        upload = await stack.upload(rare)
        r = await c.post("/models/rare", json={"intent": "Predict y", "upload_id": upload})
        assert r.status_code == 202, r.text
        status = await stack.wait_status("rare")
        assert status["status"] == "ERROR"
        assert status["error"]["code"] == "target_class_too_rare"
        assert "'y' has 299 rows of '0' and 1 row of '1'" in status["error"]["message"]


async def test_the_same_request_with_the_same_seed_builds_the_same_bytes(
    settings: Settings,
) -> None:
    """`seed` end to end: request body → event → trainer → artifact and report. The same
    request twice (two models, and a retrain) gives byte-identical artifacts."""
    async with platform_stack(settings) as stack:
        c = stack.client
        upload = await stack.upload(churn_rows(300))
        body = {"intent": CHURN_INTENT, "upload_id": upload, "max_iterations": 3, "seed": 4242}
        for name, seed in (("first", 4242), ("second", 4242), ("other", 99)):
            r = await c.post(f"/models/{name}", json={**body, "seed": seed})
            assert r.status_code == 202, r.text
            assert (await stack.wait_status(name))["status"] == "READY"
        r = await c.post("/models/first/retrain", json={"seed": 4242, "max_iterations": 3})
        assert r.status_code == 202, r.text
        assert (await stack.wait_status("first", "v2"))["status"] == "READY"

        async def artifact(model: str, version: int = 1) -> dict[str, bytes]:
            ref = await stack.pool.fetchval(
                "SELECT artifact FROM versions WHERE model_name = $1 AND version = $2",
                model,
                version,
            )
            files = sorted((settings.data_dir / ref).iterdir())
            return {p.name: p.read_bytes() for p in files}

        first = await artifact("first")
        assert set(first) == {"model.txt", "meta.json"}
        assert await artifact("second") == first
        assert await artifact("first", 2) == first
        assert b"[seed: 4242]" in first["model.txt"]
        assert b"[seed: 99]" in (await artifact("other"))["model.txt"]

        # the event carries the options whole, and the report records them
        stored = await stack.pool.fetchval(
            "SELECT value FROM events WHERE model_name = 'other' AND type = 'ModelCreated'"
        )
        options = json.loads(stored)["data"]["training"]["options"]
        assert options == {
            "metric": None,
            "task": None,
            "max_iterations": 3,
            "time_budget_s": None,
            "seed": 99,
        }
        report = await stack.pool.fetchval(
            "SELECT report FROM versions WHERE model_name = 'other' AND version = 1"
        )
        report = report if isinstance(report, dict) else json.loads(report)
        assert report["options"] == options

        for bad in ({"seed": -1}, {"seed": 2**31}, {"seed": "x"}):
            r = await c.post("/models/m", json={**body, **bad})
            assert r.status_code == 400, (bad, r.text)
            assert "seed" in r.text
