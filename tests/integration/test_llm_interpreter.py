"""The LLM adapter against a real HTTP server speaking chat completions (tests/llm_server):
what is sent, and every outcome (answered, invalid, timeout, error) without raising."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from intentml.config import Settings
from intentml.domain.profiles import ColumnProfile
from intentml.events.types import Column
from intentml.infra.llm import Interpreter, LlmInterpreter
from intentml.ml.target.interpreter import build_prompt, prompt_hash
from tests.llm_server import (
    SLOW,
    LlmServer,
    answer,
    completion,
    failure,
    fenced,
    running_llm_server,
)

KEY = "sk-test-secret-0123"


def _profile(top: list[str], distinct: int | None = None) -> ColumnProfile:
    n = distinct if distinct is not None else len(top)
    return ColumnProfile(distinct=n, missing=0, unique=False, rising=False, top=top)


COLUMNS = [
    Column(
        "customer_id", "string", ColumnProfile(distinct=9, missing=0, unique=True, rising=False)
    ),
    Column(
        "tenure",
        "integer",
        ColumnProfile(distinct=9, missing=0, unique=False, rising=False, min=1.0, max=72.0),
    ),
    Column("plan", "string", _profile([f"p{i}" for i in range(5)], distinct=12)),
    Column("churned", "boolean", _profile(["false", "true"])),
]


@pytest.fixture
def server() -> Iterator[LlmServer]:
    with running_llm_server() as s:
        yield s


def interpreter(server: LlmServer, timeout_s: float = 5.0, key: str = KEY) -> LlmInterpreter:
    return LlmInterpreter(server.base_url, "test-model", key, timeout_s)


async def test_a_good_answer_is_recorded_with_the_model_and_the_prompts_hash(
    server: LlmServer,
) -> None:
    server.script("leave", answer("churned", "binary", "auc", "'leave' means churn"))
    llm: Interpreter = interpreter(server)

    got = await llm.interpret("Which customers will leave?", COLUMNS)

    assert got.outcome == "answered", got.detail
    assert got.answer is not None
    assert (got.answer.target, got.answer.task, got.answer.metric) == (
        "churned",
        "binary",
        "roc_auc",
    )
    assert got.model == "test-model"
    body = build_prompt("Which customers will leave?", COLUMNS, "test-model")
    assert got.prompt_sha256 == prompt_hash(body)
    assert 0 < got.elapsed_s < 5
    # What left the machine: exactly the prompt's body, with the key in the header.
    [received] = server.received
    assert received.path == "/v1/chat/completions"
    assert received.body == body
    assert received.headers["authorization"] == f"Bearer {KEY}"
    assert received.table["sentence"] == "Which customers will leave?"
    sent = {c["name"]: c for c in received.table["columns"]}
    assert sent["plan"]["samples"] == ["p0", "p1", "p2", "p3", "p4"]
    assert sent["tenure"] == {"name": "tenure", "type": "integer", "samples": ["1", "72"]}
    assert all(len(c["samples"]) <= 5 for c in sent.values())


async def test_no_key_sends_no_authorization_header(server: LlmServer) -> None:
    server.script("leave", answer("churned"))
    got = await interpreter(server, key="").interpret("who will leave", COLUMNS)
    assert got.outcome == "answered"
    assert "authorization" not in server.received[0].headers


async def test_an_answer_in_fences_is_accepted(server: LlmServer) -> None:
    server.script("leave", fenced("churned", "fenced"))
    got = await interpreter(server).interpret("who will leave", COLUMNS)
    assert got.outcome == "answered", got.detail
    assert got.answer is not None and got.answer.reasons == "fenced"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("the target is churned", "not JSON"),
        ('{"target": "churn_flag", "reasons": "x"}', "'churn_flag' is not a column"),
        ('{"target": "customer_id"}', "identifier"),
        ('{"target": "plan", "task": "regression"}', "regression for 'plan'"),
    ],
)
async def test_an_unusable_answer_is_invalid(server: LlmServer, content: str, why: str) -> None:
    server.script("leave", completion(content))
    got = await interpreter(server).interpret("who will leave", COLUMNS)
    assert got.outcome == "invalid"
    assert why in got.detail
    assert got.answer is None


async def test_an_http_error_is_an_error_outcome(server: LlmServer) -> None:
    server.script("leave", failure(500, "model not loaded"))
    got = await interpreter(server).interpret("who will leave", COLUMNS)
    assert got.outcome == "error"
    assert got.detail.startswith(f"HTTP 500 from {server.base_url}/chat/completions")
    assert "model not loaded" in got.detail


async def test_a_wrong_route_is_an_error_outcome(server: LlmServer) -> None:
    llm = LlmInterpreter(server.base_url.removesuffix("/v1"), "test-model", KEY, 5.0)
    got = await llm.interpret("who will leave", COLUMNS)
    assert got.outcome == "error"
    assert "HTTP 404" in got.detail


async def test_a_slow_endpoint_times_out_within_the_configured_time(server: LlmServer) -> None:
    server.script("leave", SLOW)
    started = time.monotonic()
    got = await interpreter(server, timeout_s=0.5).interpret("who will leave", COLUMNS)
    took = time.monotonic() - started
    assert got.outcome == "timeout"
    assert "within 0.5 s" in got.detail
    assert server.slow_started.is_set()  # the request did arrive: the server was slow
    assert 0.5 <= took < 2.0
    assert 0.5 <= got.elapsed_s < 2.0


async def test_a_refused_connection_is_an_error_outcome() -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        llm = LlmInterpreter(f"http://127.0.0.1:{port}/v1", "test-model", KEY, 2.0)
        got = await llm.interpret("who will leave", COLUMNS)
    assert got.outcome == "error"
    assert "could not be reached" in got.detail
    assert KEY not in got.detail


async def test_concurrent_calls_are_answered_independently(server: LlmServer) -> None:
    server.script("leave", answer("churned"))
    server.script("long", answer("tenure", "regression"))
    llm = interpreter(server)
    a, b = await asyncio.gather(
        llm.interpret("who will leave", COLUMNS), llm.interpret("how long do they stay", COLUMNS)
    )
    assert a.answer is not None and a.answer.target == "churned"
    assert b.answer is not None and b.answer.target == "tenure"


def test_settings_turn_the_interpreter_on_only_with_a_base_url_and_a_model() -> None:
    assert Settings.from_env({}).llm_interpreter() is None
    assert Settings.from_env({"INTENTML_LLM_BASE_URL": "http://x/v1"}).llm_interpreter() is None
    assert Settings.from_env({"INTENTML_LLM_MODEL": "m"}).llm_interpreter() is None
    settings = Settings.from_env(
        {
            "INTENTML_LLM_BASE_URL": "http://localhost:11434/v1/",
            "INTENTML_LLM_MODEL": "llama3.1",
            "INTENTML_LLM_API_KEY": KEY,
            "INTENTML_LLM_TIMEOUT_S": "3.5",
        }
    )
    llm = settings.llm_interpreter()
    assert settings.llm_enabled and llm is not None
    assert (llm.url, llm.model, llm.timeout_s) == (
        "http://localhost:11434/v1/chat/completions",
        "llama3.1",
        3.5,
    )
    assert KEY not in repr(llm)
    assert Settings.from_env({}).llm_timeout_s == 10.0
