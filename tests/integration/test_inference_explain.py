"""`?explain=true` and the raw-body batch path against the real stack.

One platform serves the module: `churn` (binary, with a date input), `segments`
(multiclass) and `spend` (regression), and an ACTIVE deployment of `churn`.
Explanations must add up to the model's raw score: the logit of the returned
probability (binary), the returned value (regression), and per class the raw scores
whose softmax is the returned probabilities (multiclass).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from tests.conftest import fresh_database, settings_for
from tests.data import NEGATIVE, POSITIVE, churn_rows
from tests.stack import Stack, error_of, platform_stack

#: Churn inputs without the identifier: no warnings.
CLEAN = {k: v for k, v in POSITIVE.items() if k != "customer_id"}
CHANNELS = ("web", "app", "store")


def segment_rows(n: int = 400, seed: int = 5) -> list[dict[str, object]]:
    """Customers whose segment (3 classes) and spend follow from visits, tenure and channel."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for _ in range(n):
        visits = int(rng.integers(0, 30))
        tenure = float(rng.uniform(0, 60))
        channel = CHANNELS[int(rng.integers(0, 3))]
        segment = "vip" if visits > 20 else ("regular" if tenure > 30 else "casual")
        spend = 10 * visits + 2 * tenure + (25 if channel == "store" else 0)
        rows.append(
            {
                "visits": visits,
                "tenure": round(tenure, 1),
                "channel": channel,
                "segment": segment,
                "spend": round(spend + float(rng.normal(0, 5)), 2),
            }
        )
    return rows


SEGMENT_ROW = {"visits": 25, "tenure": 40.0, "channel": "store"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    postgres_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """A platform with `churn`, `segments` and `spend` READY."""
    async with fresh_database(postgres_url) as url:
        settings = settings_for(url, kafka_bootstrap, tmp_path_factory.mktemp("explain") / "data")
        async with platform_stack(settings) as s:
            c = s.client
            churn = await s.upload(churn_rows(300))
            rows = segment_rows()
            segments = await s.upload([{k: v for k, v in r.items() if k != "spend"} for r in rows])
            spend = await s.upload([{k: v for k, v in r.items() if k != "segment"} for r in rows])
            for model, body in (
                ("churn", {"intent": "Predict customer churn", "upload_id": churn}),
                (
                    "segments",
                    {"intent": "Predict the customer segment", "upload_id": segments},
                ),
                (
                    "spend",
                    {
                        "intent": "Predict how much a customer spends",
                        "upload_id": spend,
                        "target": "spend",
                        "task": "regression",
                    },
                ),
            ):
                r = await c.post(f"/models/{model}", json={**body, "max_iterations": 3})
                assert r.status_code == 202, r.text
            for model in ("churn", "segments", "spend"):
                assert (await s.wait_status(model))["status"] == "READY", model
            yield s


async def post(stack: Stack, path: str, body: Any) -> Any:
    r = await stack.client.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def check_sums(part: dict[str, Any], inputs: set[str]) -> float:
    """base_value + contributions == raw_score, one contribution per input; the raw score."""
    assert set(part["contributions"]) == inputs, part
    total = part["base_value"] + math.fsum(part["contributions"].values())
    assert total == pytest.approx(part["raw_score"], abs=1e-9)
    raw: float = part["raw_score"]
    return raw


async def inputs_of(stack: Stack, model: str) -> set[str]:
    """The model's input fields (what `describe` calls its features)."""
    r = await stack.client.get(f"/models/{model}/v1/describe")
    assert r.status_code == 200, r.text
    return set(r.json()["features"])


def check_binary(explanation: dict[str, Any], result: dict[str, Any], inputs: set[str]) -> None:
    assert explanation["scale"] == "log_odds" and explanation["positive_class"] == 1
    raw = check_sums(explanation, inputs)
    assert raw == pytest.approx(logit(result["churned_probability"]), abs=1e-9)


def check_multiclass(explanation: dict[str, Any], result: dict[str, Any], inputs: set[str]) -> None:
    assert explanation["scale"] == "logit" and set(explanation) == {"scale", "classes"}
    classes = explanation["classes"]
    assert set(classes) == {"vip", "regular", "casual"}
    scores = {label: check_sums(part, inputs) for label, part in classes.items()}
    top = max(scores.values())
    total = sum(math.exp(s - top) for s in scores.values())
    for label, score in scores.items():
        assert math.exp(score - top) / total == pytest.approx(
            result["probabilities"][label], abs=1e-9
        )


# ---------------------------------------------------------------------- single rows


async def test_infer_explains_a_binary_prediction_with_a_date(stack: Stack) -> None:
    inputs = await inputs_of(stack, "churn")
    assert "signup_date" in inputs and "customer_id" not in inputs
    for row in (CLEAN, POSITIVE, NEGATIVE):
        plain = await post(stack, "/models/churn/v1/infer", row)
        assert "explanation" not in plain  # the answer without explain is unchanged
        out = await post(stack, "/models/churn/v1/infer?explain=true", row)
        assert out["result"] == plain["result"]
        assert out["warnings"] == plain["warnings"]
        check_binary(out["explanation"], out["result"], inputs)
    low = await post(stack, "/models/churn/v1/infer?explain=true", POSITIVE)
    high = await post(stack, "/models/churn/v1/infer?explain=true", NEGATIVE)
    # usage decides churn: it pushes the low-usage row up and the high-usage row down
    assert low["explanation"]["contributions"]["usage_minutes"] > 0
    assert high["explanation"]["contributions"]["usage_minutes"] < 0
    assert low["explanation"]["base_value"] == high["explanation"]["base_value"]


async def test_explain_through_a_deployment(stack: Stack) -> None:
    c = stack.client
    r = await c.post("/models/churn/deploy", json={})
    assert r.status_code == 202, r.text
    deployment_id = r.json()["deployment_id"]
    deadline = asyncio.get_running_loop().time() + 30
    while (await c.get(f"/models/churn/deployments/{deployment_id}")).json()["status"] != "ACTIVE":
        assert asyncio.get_running_loop().time() < deadline, "the deployment never went ACTIVE"
        await asyncio.sleep(0.05)
    via = await post(stack, f"/predict/{deployment_id}?explain=true", CLEAN)
    direct = await post(stack, "/models/churn/v1/infer?explain=true", CLEAN)
    assert via["deployment_id"] == deployment_id
    assert via["result"] == direct["result"]
    assert via["explanation"] == direct["explanation"]
    check_binary(via["explanation"], via["result"], await inputs_of(stack, "churn"))
    assert "explanation" not in await post(stack, f"/predict/{deployment_id}", CLEAN)


async def test_multiclass_and_regression_explanations(stack: Stack) -> None:
    inputs = await inputs_of(stack, "segments")
    out = await post(stack, "/models/segments/v1/infer?explain=true", SEGMENT_ROW)
    check_multiclass(out["explanation"], out["result"], inputs)

    inputs = await inputs_of(stack, "spend")
    assert inputs == {"visits", "tenure", "channel"}
    out = await post(stack, "/models/spend/v1/infer?explain=true", SEGMENT_ROW)
    explanation = out["explanation"]
    assert explanation["scale"] == "value" and "positive_class" not in explanation
    assert check_sums(explanation, inputs) == pytest.approx(out["result"]["spend"], abs=1e-9)


async def test_explain_validates_like_the_plain_path(stack: Stack) -> None:
    bad = {**CLEAN, "usage_minutes": "lots", "bogus": 1}
    plain = error_of(
        await stack.client.post("/models/churn/v1/infer", json=bad), 422, "validation_error"
    )
    explained = error_of(
        await stack.client.post("/models/churn/v1/infer?explain=true", json=bad),
        422,
        "validation_error",
    )
    assert explained == plain


# --------------------------------------------------------------------------- batches


async def test_batch_explanations(stack: Stack) -> None:
    inputs = await inputs_of(stack, "churn")
    rows = [{k: v for k, v in r.items() if k != "churned"} for r in churn_rows(300, seed=9)]
    plain = await post(stack, "/models/churn/v1/predictions", rows)
    r = await stack.client.post("/models/churn/v1/predictions?explain=true", json=rows)
    assert r.status_code == 200, r.text
    assert (
        r.headers["x-warnings"]
        == (await stack.client.post("/models/churn/v1/predictions", json=rows)).headers[
            "x-warnings"
        ]
    )
    items = r.json()
    assert [{"prediction": i["prediction"]} for i in items] == plain
    for row, item in zip(rows[:20], items[:20], strict=False):
        check_binary(item["explanation"], item["prediction"], inputs)
        single = await post(stack, "/models/churn/v1/infer?explain=true", row)
        for name, value in single["explanation"]["contributions"].items():
            assert item["explanation"]["contributions"][name] == pytest.approx(value, abs=1e-9)
    for item in items:
        check_binary(item["explanation"], item["prediction"], inputs)

    inputs = await inputs_of(stack, "segments")
    rows = [{k: v for k, v in r.items() if k not in ("segment", "spend")} for r in segment_rows(50)]
    items = await post(stack, "/models/segments/v1/predictions?explain=true", rows)
    for item in items:
        check_multiclass(item["explanation"], item["prediction"], inputs)


# ------------------------------------------------------- the raw body of /predictions


async def test_batch_bodies_the_fast_decoder_refuses_get_the_same_answers(stack: Stack) -> None:
    """A batch the per-model decoder refuses is decoded as plain JSON: the errors name
    every bad field as before, and malformed bodies are a 400 as before."""
    c = stack.client
    rows: list[Any] = [dict(CLEAN) for _ in range(400)]
    rows[5]["usage_minutes"] = "lots"  # refused by the decoder: the dict path answers
    rows[7]["support_tickets"] = 1.5  # let through: found column-wise
    rows[9]["bogus"] = 1
    err = error_of(await c.post("/models/churn/v1/predictions", json=rows), 422, "validation_error")
    assert [d["field"] for d in err["details"]] == [
        "[5].usage_minutes",
        "[7].support_tickets",
        "[9].bogus",
    ]
    del rows[5]["usage_minutes"]  # now the decoder takes it: the same kind of answer
    del rows[9]["bogus"]
    err = error_of(await c.post("/models/churn/v1/predictions", json=rows), 422, "validation_error")
    assert [d["field"] for d in err["details"]] == ["[5].usage_minutes", "[7].support_tickets"]
    assert err["details"][0]["message"] == "missing required field"

    headers = {"content-type": "application/json"}
    r = await c.post("/models/churn/v1/predictions", content=b"[{", headers=headers)
    assert error_of(r, 400, "invalid_request")["message"] == "Input data was truncated"
    r = await c.post("/models/churn/v1/predictions", content=b"nope", headers=headers)
    assert error_of(r, 400, "invalid_request")["message"].startswith("JSON is malformed")
    r = await c.post("/models/churn/v1/predictions?strict=true", json=CLEAN)
    err = error_of(r, 400, "invalid_request")
    assert err["message"].startswith("Validation failed for POST /models/churn/v1/predictions")
    assert err["details"] == [
        {"message": "Expected `array`, got `object`", "key": "data", "source": "body"}
    ]
    # a bad body is reported before an unknown model, as when the framework decoded it
    r = await c.post("/models/nope/v1/predictions", content=b"[{", headers=headers)
    error_of(r, 400, "invalid_request")
    error_of(await c.post("/models/nope/v1/predictions", json=[CLEAN]), 404, "not_found")


async def test_openapi_documents_explain(stack: Stack) -> None:
    schema = (await stack.client.get("/schema/openapi.json")).json()
    for path in (
        "/models/{model_name}/{model_version}/infer",
        "/models/{model_name}/{model_version}/predictions",
        "/predict/{deployment_id}",
    ):
        op = schema["paths"][path]["post"]
        assert "explain" in {p["name"] for p in op.get("parameters", [])}, path
        assert "explanation" in json.dumps(op["responses"]["200"]) or "Explained" in json.dumps(
            op["responses"]["200"]
        ), path
    body = schema["paths"]["/models/{model_name}/{model_version}/predictions"]["post"]
    assert body["requestBody"]["content"]["application/json"]["schema"]["type"] == "array"
    explanation = schema["components"]["schemas"]["ExplanationOut"]
    assert {"scale", "base_value", "raw_score", "contributions", "classes"} <= set(
        explanation["properties"]
    )
