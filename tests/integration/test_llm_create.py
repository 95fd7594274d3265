"""POST /models with the LLM interpreter configured, against a real chat-completions
server (tests/llm_server): its answer is weighed, recorded in the event, and never
trusted over a confident resolver; a slow endpoint leaves the resolver to decide."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from intentml.config import Settings
from intentml.ml.target.interpreter import prompt_hash
from tests.data import churn_rows
from tests.llm_server import SLOW, LlmServer, answer, running_llm_server
from tests.stack import Stack, error_of, platform_stack

KEY = "sk-llm-test-key-42"


@pytest.fixture
def llm() -> Iterator[LlmServer]:
    with running_llm_server() as server:
        server.script("usage patterns", answer("churned", "binary", None, "churn is 'churned'"))
        server.script("matters most", answer("support_tickets", None, None, "tickets matter"))
        server.script("their plan", answer("plan_type", None, None, "plans are the point"))
        server.script("soon", SLOW)
        yield server


def with_llm(settings: Settings, server: LlmServer) -> Settings:
    return msgspec.structs.replace(
        settings,
        llm_base_url=server.base_url,
        llm_model="test-model",
        llm_api_key=KEY,
        llm_timeout_s=1.0,
    )


async def create(stack: Stack, name: str, upload_id: str, **body: Any) -> Any:
    return await stack.client.post(f"/models/{name}", json={"upload_id": upload_id, **body})


async def recorded(stack: Stack, model_name: str) -> dict[str, Any] | None:
    """The `interpretation` of the model's `ModelCreated` event, as the log holds it."""
    for row in await stack.pool.fetch("SELECT value FROM events WHERE type = 'ModelCreated'"):
        envelope = msgspec.json.decode(row["value"])
        if envelope["model_name"] == model_name:
            said: dict[str, Any] | None = envelope["data"]["training"].get("interpretation")
            return said
    raise AssertionError(f"no ModelCreated for {model_name}")


async def test_create_weighs_the_llms_answer_and_records_it(
    settings: Settings, llm: LlmServer
) -> None:
    async with platform_stack(with_llm(settings, llm), trainer=False, deployer=False) as stack:
        upload_id = await stack.upload(churn_rows(200))

        # Agreement: the resolver's column, and the LLM's reasons beside its own.
        r = await create(
            stack, "agreed", upload_id, intent="Predict customer churn based on usage patterns"
        )
        assert r.status_code == 202, r.text
        assert r.json()["target"] == "churned"
        assert "; the LLM (test-model) agrees: churn is 'churned'" in r.json()["target_reason"]
        said = await recorded(stack, "agreed")
        assert said is not None
        assert said["model"] == "test-model" and said["outcome"] == "answered"
        assert said["answer"]["target"] == "churned" and said["answer"]["task"] == "binary"
        sent = llm.received[-1]
        assert said["prompt_sha256"] == prompt_hash(sent.body)
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        assert [c["name"] for c in sent.table["columns"]] == list(churn_rows(1)[0])
        assert all(len(c["samples"]) <= 5 for c in sent.table["columns"])
        assert sent.table["columns"][0]["samples"] == []  # customer_id: an identifier

        # A resolver that alone would refuse takes the LLM's column, and says so.
        r = await create(stack, "unsure", upload_id, intent="Tell me what matters most")
        assert r.status_code == 202, r.text
        assert r.json()["target"] == "support_tickets"
        reason = r.json()["target_reason"]
        assert reason.startswith("the LLM (test-model) chose 'support_tickets': tickets matter")
        assert "the resolver alone was unsure" in reason

        # A confident resolver and a different answer: refused, both columns first.
        r = await create(stack, "split", upload_id, intent="Predict customer churn from their plan")
        err = error_of(r, 422, "validation_error")
        assert "disagree" in err["message"] and "`target`" in err["message"]
        ranked = err["details"]["candidates"]
        assert [c["column"] for c in ranked[:2]] == ["churned", "plan_type"]
        assert ranked[1]["evidence"][0] == "the LLM (test-model) chose it: plans are the point"
        assert err["details"]["interpretation"]["answer"]["target"] == "plan_type"
        # The plan shows the same refusal and what the LLM said, appending nothing.
        r = await stack.client.post(
            "/models/split/plan",
            json={"upload_id": upload_id, "intent": "Predict customer churn from their plan"},
        )
        assert r.status_code == 200, r.text
        plan = r.json()
        assert not plan["would_create"] and plan["target"] is None
        assert "disagree" in plan["problems"][0]["message"]
        assert plan["interpretation"]["answer"]["target"] == "plan_type"

        # The user's `target` is never second-guessed: the LLM is not asked.
        asked = len(llm.received)
        r = await create(stack, "named", upload_id, intent="Predict their plan", target="plan_type")
        assert r.status_code == 202, r.text
        assert r.json()["target"] == "plan_type"
        assert len(llm.received) == asked
        assert await recorded(stack, "named") is None


async def test_a_slow_llm_leaves_the_resolver_to_decide_and_says_so(
    settings: Settings, llm: LlmServer
) -> None:
    async with platform_stack(with_llm(settings, llm)) as stack:
        upload_id = await stack.upload(churn_rows(200))
        r = await create(
            stack, "slow", upload_id, intent="Will the customer churn soon?", max_iterations=1
        )
        assert r.status_code == 202, r.text
        assert llm.slow_started.is_set()  # it was asked, and did not answer in time
        assert r.json()["target"] == "churned"
        assert r.json()["target_reason"].endswith(
            "(LLM timeout: no answer from "
            f"{llm.base_url}/chat/completions within 1 s; the deterministic resolver decided)"
        )
        said = await recorded(stack, "slow")
        assert said is not None
        assert said["outcome"] == "timeout" and said.get("answer") is None
        assert 1.0 <= said["elapsed_s"] < 3.0

        # The build reads what was recorded, says so in its log, and never asks again.
        status = await stack.wait_status("slow")
        assert status["status"] == "READY", status
        assert len(llm.received) == 1
        logs = await stack.client.get("/models/build-logs", params={"job_id": r.json()["job_id"]})
        assert logs.status_code == 200, logs.text
        text = "\n".join(line["message"] for line in logs.json()["logs"])
        assert "LLM interpreter (test-model): timeout; no answer from" in text
        assert "the deterministic resolver decided)" in text
