"""Inference against the real stack: `/infer`, `/predictions`, `/predict/{id}`.

One platform serves the whole module (starting it and training are the slow parts):
the fixture trains `churn` (what most tests predict with), `doomed` (deleted by one
test) and `flat` (a build that fails: its target is constant). Tests never change
`churn`, so they stay independent of each other's order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from intentml.api.inference import MAX_BATCH_ROWS
from tests.conftest import fresh_database, settings_for
from tests.data import NEGATIVE, POSITIVE, churn_rows
from tests.stack import Stack, error_of, platform_stack

#: Rows the churn rule answers clearly (usage well below 120 minutes churns, far above doesn't).
CHURNS = {**POSITIVE, "usage_minutes": 60.0}
STAYS = NEGATIVE
#: A row of `churn` with every input and nothing else (no warnings).
CLEAN = {k: v for k, v in CHURNS.items() if k != "customer_id"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    postgres_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """A platform with `churn` and `doomed` READY and `flat` in ERROR."""
    async with fresh_database(postgres_url) as url:
        settings = settings_for(url, kafka_bootstrap, tmp_path_factory.mktemp("inference") / "data")
        async with platform_stack(settings) as s:
            c = s.client
            upload_id = await s.upload(churn_rows(300))
            flat_rows = [{**r, "churned": 0} for r in churn_rows(100)]
            flat_upload = await s.upload(flat_rows)
            intent = "Predict customer churn based on usage patterns"
            for model, upload in (
                ("churn", upload_id),
                ("doomed", upload_id),
                ("flat", flat_upload),
            ):
                r = await c.post(f"/models/{model}", json={"intent": intent, "upload_id": upload})
                assert r.status_code == 202, r.text
            assert (await s.wait_status("churn"))["status"] == "READY"
            assert (await s.wait_status("doomed"))["status"] == "READY"
            assert (await s.wait_status("flat"))["status"] == "ERROR"
            yield s


def by_field(err: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A 422's details keyed by field, each checked to carry a message and an expectation."""
    details = err["details"]
    assert isinstance(details, list)
    for d in details:
        assert set(d) >= {"field", "message", "expected"}, d
        assert d["message"] and d["expected"], d
    fields = [d["field"] for d in details]
    assert len(fields) == len(set(fields)), fields  # each bad field once
    return {d["field"]: d for d in details}


def inputs_of(row: dict[str, object]) -> dict[str, object]:
    """A training row as a request: without the target."""
    return {k: v for k, v in row.items() if k != "churned"}


# ---------------------------------------------------------------------------- /infer


async def test_infer_answers_with_the_documented_shape(stack: Stack) -> None:
    r = await stack.client.post("/models/churn/v1/infer", json=CLEAN)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) >= {
        "request_id",
        "result",
        "model_name",
        "model_version",
        "created_at",
        "warnings",
    }
    assert out["request_id"].startswith("req_")
    assert out["model_name"] == "churn" and out["model_version"] == "v1"
    assert out["warnings"] == []
    assert out["created_at"].endswith(("Z", "+00:00"))
    assert set(out["result"]) == {"churned_probability", "churned"}
    assert 0.5 < out["result"]["churned_probability"] <= 1.0 and out["result"]["churned"] == 1
    again = (await stack.client.post("/models/churn/v1/infer", json=CLEAN)).json()
    assert again["request_id"] != out["request_id"] and again["result"] == out["result"]


async def test_every_version_reference_serves_the_same_version(stack: Stack) -> None:
    c = stack.client
    details = await c.get("/models/churn/v1")
    assert details.status_code == 200, details.text
    version_id = details.json()["version_id"]
    expected = (await c.post("/models/churn/v1/infer", json=CLEAN)).json()["result"]
    for ref in ("latest", "1", "v1.0", "V1", version_id):
        r = await c.post(f"/models/churn/{ref}/infer", json=CLEAN)
        assert r.status_code == 200, (ref, r.text)
        assert r.json()["model_version"] == "v1" and r.json()["result"] == expected, ref


async def test_infer_lists_every_bad_field(stack: Stack) -> None:
    c = stack.client
    schema = (await c.get("/models/churn/v1")).json()["input_schema"]
    assert set(schema["required"]) == {
        "usage_minutes",
        "support_tickets",
        "plan_type",
        "signup_date",
    }, schema
    row = {
        "usage_minutes": "lots",  # a string for a number
        "support_tickets": True,  # true for a number
        "plan_type": 5,  # a number for a category
        "usage_minute": 3.0,  # unknown: a typo
        "favourite_colour": "blue",  # unknown, like nothing
        # signup_date: missing
    }
    err = error_of(await c.post("/models/churn/v1/infer", json=row), 422, "validation_error")
    bad = by_field(err)
    assert set(bad) == {
        "usage_minutes",
        "support_tickets",
        "plan_type",
        "usage_minute",
        "favourite_colour",
        "signup_date",
    }, bad
    assert "string" in bad["usage_minutes"]["message"]
    assert bad["usage_minutes"]["expected"] == "number"
    assert "true" in bad["support_tickets"]["message"]
    assert bad["support_tickets"]["expected"] in ("integer", "number")
    assert "number" in bad["plan_type"]["message"] and bad["plan_type"]["expected"] == "string"
    assert "did you mean 'usage_minutes'" in bad["usage_minute"]["message"]
    assert "unknown field" in bad["favourite_colour"]["message"]
    assert "did you mean" not in bad["favourite_colour"]["message"]
    assert "missing" in bad["signup_date"]["message"]
    assert "date" in bad["signup_date"]["expected"]

    # each problem alone is also a 422 naming just that field
    for field, value in (("usage_minutes", "lots"), ("plan_type", 5), ("support_tickets", True)):
        r = await c.post("/models/churn/v1/infer", json={**CLEAN, field: value})
        assert set(by_field(error_of(r, 422, "validation_error"))) == {field}
    r = await c.post("/models/churn/v1/infer", json={**CLEAN, "usage_minute": 1})
    assert set(by_field(error_of(r, 422, "validation_error"))) == {"usage_minute"}
    r = await c.post("/models/churn/v1/infer", json={})
    assert set(by_field(error_of(r, 422, "validation_error"))) == set(schema["required"])


async def test_ignored_columns_and_unseen_categories_are_warnings(stack: Stack) -> None:
    c = stack.client
    r = await c.post("/models/churn/v1/infer", json=CHURNS)  # with customer_id
    assert r.status_code == 200, r.text
    (warning,) = r.json()["warnings"]
    assert "customer_id" in warning and "ignored" in warning
    assert (
        r.json()["result"] == (await c.post("/models/churn/v1/infer", json=CLEAN)).json()["result"]
    )

    r = await c.post("/models/churn/v1/infer", json={**CLEAN, "plan_type": "platinum"})
    assert r.status_code == 200, r.text
    (warning,) = r.json()["warnings"]
    assert "plan_type" in warning and "platinum" in warning

    r = await c.post("/models/churn/v1/infer?strict=true", json={**CLEAN, "plan_type": "platinum"})
    bad = by_field(error_of(r, 422, "validation_error"))
    assert set(bad) == {"plan_type"}
    assert "platinum" in bad["plan_type"]["message"]
    assert all(p in bad["plan_type"]["expected"] for p in ("basic", "standard", "premium"))
    # strict only hardens unseen values: a clean row still passes, ignored columns still warn
    r = await c.post("/models/churn/v1/infer?strict=true", json=CHURNS)
    assert r.status_code == 200 and len(r.json()["warnings"]) == 1


async def test_infer_rejects_bodies_that_are_not_one_object(stack: Stack) -> None:
    c = stack.client
    json_headers = {"content-type": "application/json"}
    for body in (b"{not json", b"", b"usage_minutes=10"):
        r = await c.post("/models/churn/v1/infer", content=body, headers=json_headers)
        error_of(r, 400, "invalid_request")
    err = error_of(await c.post("/models/churn/v1/infer", json=[CLEAN]), 400, "invalid_request")
    assert "object" in err["message"] or "object" in json.dumps(err.get("details"))
    error_of(await c.post("/models/churn/v1/infer", json="row"), 400, "invalid_request")


async def test_unknown_models_versions_and_deployments_are_404(stack: Stack) -> None:
    c = stack.client
    err = error_of(await c.post("/models/nope/v1/infer", json=CLEAN), 404, "not_found")
    assert "nope" in err["message"]
    err = error_of(await c.post("/models/churn/v9/infer", json=CLEAN), 404, "not_found")
    assert "v9" in err["message"]
    error_of(await c.post("/models/churn/ver_nope/infer", json=CLEAN), 404, "not_found")
    error_of(await c.post("/models/nope/v1/predictions", json=[CLEAN]), 404, "not_found")
    error_of(await c.post("/models/churn/v9/predictions", json=[CLEAN]), 404, "not_found")
    err = error_of(await c.post("/predict/dep_nope", json=CLEAN), 404, "not_found")
    assert "dep_nope" in err["message"]


async def test_a_version_that_is_not_ready_is_409(stack: Stack) -> None:
    c = stack.client
    err = error_of(await c.post("/models/flat/v1/infer", json=CLEAN), 409, "conflict")
    assert "ERROR" in err["message"] and "READY" in err["message"]
    err = error_of(await c.post("/models/flat/latest/predictions", json=[CLEAN]), 409, "conflict")
    assert "ERROR" in err["message"]


async def test_inference_stops_at_once_when_the_model_is_deleted(stack: Stack) -> None:
    c = stack.client
    # warm every cache on the serving path first
    for _ in range(3):
        assert (await c.post("/models/doomed/v1/infer", json=CLEAN)).status_code == 200
        assert (await c.post("/models/doomed/latest/predictions", json=[CLEAN])).status_code == 200
    r = await c.delete("/models/doomed")
    assert r.status_code == 200 and r.json()["status"] == "DELETED", r.text
    error_of(await c.post("/models/doomed/v1/infer", json=CLEAN), 404, "not_found")
    error_of(await c.post("/models/doomed/latest/infer", json=CLEAN), 404, "not_found")
    error_of(await c.post("/models/doomed/v1/predictions", json=[CLEAN]), 404, "not_found")


# ----------------------------------------------------------------------- /predictions


async def test_batch_predictions_match_single_ones_in_order(stack: Stack) -> None:
    c = stack.client
    rows = [inputs_of(r) for r in churn_rows(20, seed=7)]
    r = await c.post("/models/churn/v1/predictions", json=rows)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    batch = r.json()
    assert isinstance(batch, list) and len(batch) == len(rows)
    for row, item in zip(rows, batch, strict=True):
        assert set(item) == {"prediction"}
        single = (await c.post("/models/churn/v1/infer", json=row)).json()["result"]
        assert item["prediction"]["churned"] == single["churned"], row
        assert item["prediction"]["churned_probability"] == pytest.approx(
            single["churned_probability"], abs=1e-12
        )

    # order: rows with clearly different answers, interleaved
    pattern = [CHURNS, STAYS, STAYS, CHURNS, STAYS, CHURNS, CHURNS, STAYS]
    r = await c.post("/models/churn/latest/predictions", json=pattern)
    assert r.status_code == 200, r.text
    labels = [item["prediction"]["churned"] for item in r.json()]
    assert labels == [1 if row is CHURNS else 0 for row in pattern]
    probabilities = [item["prediction"]["churned_probability"] for item in r.json()]
    assert min(probabilities[i] for i, row in enumerate(pattern) if row is CHURNS) > 0.6
    assert max(probabilities[i] for i, row in enumerate(pattern) if row is STAYS) < 0.4


async def test_a_5000_row_batch(stack: Stack) -> None:
    rows = [inputs_of(r) for r in churn_rows(5000, seed=3)]
    r = await stack.client.post("/models/churn/v1/predictions", json=rows)
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out) == 5000
    assert all(set(item["prediction"]) == {"churned_probability", "churned"} for item in out)
    # the model learned the rule, so the batch must follow it row by row
    agree = sum(
        item["prediction"]["churned"] == int(float(str(row["usage_minutes"])) < 120)
        for row, item in zip(rows, out, strict=True)
    )
    assert agree > 0.9 * len(rows)
    # every row has customer_id: one warning for all of them
    (warning,) = json.loads(r.headers["x-warnings"])
    assert "customer_id" in warning and "5,000 rows" in warning


async def test_batch_errors_name_every_bad_row(stack: Stack) -> None:
    rows: list[Any] = [dict(CLEAN) for _ in range(8)]
    rows[1]["usage_minutes"] = "lots"
    del rows[3]["usage_minutes"]
    rows[3]["usage_minute"] = 12.0
    rows[4]["plan_type"] = 5
    rows[6]["support_tickets"] = True
    rows[6]["bogus"] = 1
    r = await stack.client.post("/models/churn/v1/predictions", json=rows)
    bad = by_field(error_of(r, 422, "validation_error"))
    assert set(bad) == {
        "[1].usage_minutes",
        "[3].usage_minutes",
        "[3].usage_minute",
        "[4].plan_type",
        "[6].support_tickets",
        "[6].bogus",
    }, bad
    assert "missing" in bad["[3].usage_minutes"]["message"]
    assert "did you mean 'usage_minutes'" in bad["[3].usage_minute"]["message"]
    assert bad["[1].usage_minutes"]["expected"] == "number"
    assert list(bad) == sorted(bad, key=lambda f: int(f[1 : f.index("]")]))  # in row order

    # the same errors in a batch big enough to be validated column by column
    big: list[Any] = [dict(CLEAN) for _ in range(1000)]
    big[3]["usage_minutes"] = "lots"
    big[500]["plan_type"] = None  # null: allowed (missing value)
    big[998]["support_tickets"] = 1.5
    r = await stack.client.post("/models/churn/v1/predictions", json=big)
    bad = by_field(error_of(r, 422, "validation_error"))
    assert set(bad) == {"[3].usage_minutes", "[998].support_tickets"}, bad


async def test_batch_warnings_come_once_in_a_header(stack: Stack) -> None:
    c = stack.client
    rows = [dict(CHURNS, customer_id=f"c{i}") for i in range(1000)]
    rows[10]["plan_type"] = "platinum"
    rows[20]["plan_type"] = "gold"
    r = await c.post("/models/churn/v1/predictions", json=rows)
    assert r.status_code == 200, r.text
    assert isinstance(r.json(), list) and len(r.json()) == 1000
    header = r.headers["x-warnings"]
    assert len(header) < 2000, header  # bounded: not one warning per row
    warnings = json.loads(header)
    assert isinstance(warnings, list) and len(warnings) == 2, warnings
    ignored = next(w for w in warnings if "customer_id" in w)
    assert "1,000 rows" in ignored
    unseen = next(w for w in warnings if "plan_type" in w)
    assert "platinum" in unseen and "gold" in unseen

    r = await c.post("/models/churn/v1/predictions?strict=true", json=rows)
    bad = by_field(error_of(r, 422, "validation_error"))
    assert set(bad) == {"[10].plan_type", "[20].plan_type"}, bad

    # a small batch, one row with the warning: the row is named
    r = await c.post("/models/churn/v1/predictions", json=[CLEAN, CHURNS])
    assert r.status_code == 200
    (warning,) = json.loads(r.headers["x-warnings"])
    assert "[1].customer_id" in warning
    r = await c.post("/models/churn/v1/predictions", json=[CLEAN, CLEAN])
    assert "x-warnings" not in r.headers


async def test_batch_size_and_shape(stack: Stack) -> None:
    c = stack.client
    json_headers = {"content-type": "application/json"}

    r = await c.post("/models/churn/v1/predictions", json=[])
    assert r.status_code == 200 and r.json() == [], r.text

    # the row count is checked before any row is: 100,001 empty objects → 413, not 422
    body = json.dumps([{}] * (MAX_BATCH_ROWS + 1)).encode()
    r = await c.post("/models/churn/v1/predictions", content=body, headers=json_headers)
    err = error_of(r, 413, "payload_too_large")
    assert "100,000" in err["message"]
    assert err["details"] == {"rows": MAX_BATCH_ROWS + 1, "max_rows": MAX_BATCH_ROWS}
    # exactly the limit is validated: every row lacks every input; the list is capped
    body = json.dumps([{}] * MAX_BATCH_ROWS).encode()
    r = await c.post("/models/churn/v1/predictions", content=body, headers=json_headers)
    details = error_of(r, 422, "validation_error")["details"]
    assert details[0]["field"] == "[0].usage_minutes"
    assert details[-1]["field"] == "$" and "400,000 in all" in details[-1]["message"]
    assert len(details) <= 1001

    # an element that is not an object is a bad row like any other: 422 naming it
    r = await c.post("/models/churn/v1/predictions", json=[CLEAN, 5, CLEAN, None, ["x"], "row"])
    bad = by_field(error_of(r, 422, "validation_error"))
    assert set(bad) == {"[1]", "[3]", "[4]", "[5]"}, bad
    assert all("object" in d["message"] and d["expected"] == "object" for d in bad.values())
    r = await c.post("/models/churn/v1/predictions", json=[CLEAN, 5, {**CLEAN, "plan_type": 1}])
    assert set(by_field(error_of(r, 422, "validation_error"))) == {"[1]", "[2].plan_type"}

    for bad_body in (b"[{", b"", b"not json"):
        r = await c.post("/models/churn/v1/predictions", content=bad_body, headers=json_headers)
        error_of(r, 400, "invalid_request")
    error_of(
        await c.post("/models/churn/v1/predictions", json=CLEAN), 400, "invalid_request"
    )  # an object, not an array


async def test_openapi_documents_the_batch_body(stack: Stack) -> None:
    schema = (await stack.client.get("/schema/openapi.json")).json()
    op = schema["paths"]["/models/{model_name}/{model_version}/predictions"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body["type"] == "array" and body["items"]["type"] == "object", body
