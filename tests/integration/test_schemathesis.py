"""Schemathesis against the app's own OpenAPI document, with a valid key: no 500 anywhere.

The real stack (PostgreSQL, broker, projector, trainer, deployer, API on a socket) runs
in a thread of its own, since Hypothesis drives the test synchronously. It holds a READY,
deployed model, so besides the generated path parameters (which name nothing) each case
is also sent with the names of real resources and gets past the lookups. Derandomized
and bounded (`MAX_EXAMPLES` per operation), so CI runs the same ~2,000 requests in about
a minute; a 500 found is a bug and gets a regression test of its own.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from intentml.api.app import create_app
from intentml.config import Settings
from tests.conftest import fresh_database, settings_for
from tests.data import CHURN_INTENT, churn_rows
from tests.stack import platform_stack

#: Examples per operation (and mode); FUZZ_EXAMPLES=100 for a deeper hunt by hand.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))


@dataclass
class Live:
    """The running stack as a synchronous client sees it."""

    base_url: str
    key: str
    #: Path parameters naming real resources of the key's account.
    ids: dict[str, str] = field(default_factory=dict)


async def _until_active(c: httpx.AsyncClient, deployment_id: str, timeout_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        r = await c.get(f"/models/churn/deployments/{deployment_id}")
        if r.json()["status"] == "ACTIVE":
            return
        assert asyncio.get_running_loop().time() < deadline, r.text
        await asyncio.sleep(0.05)  # a client polling the deployment


async def _run_stack(
    postgres_url: str,
    kafka: str,
    data_dir: Path,
    out: dict[str, Any],
    ready: threading.Event,
    stop: threading.Event,
) -> None:
    async with fresh_database(postgres_url) as url:
        s = settings_for(url, kafka, data_dir)
        async with platform_stack(s) as stack:
            c = stack.client
            upload_id = await stack.upload(churn_rows(200))
            r = await c.post("/models/churn", json={"intent": CHURN_INTENT, "upload_id": upload_id})
            assert r.status_code == 202, r.text
            assert (await stack.wait_status("churn"))["status"] == "READY"
            version_id = (await c.get("/models/churn/v1")).json()["version_id"]
            r = await c.post("/models/churn/deploy", json={})
            assert r.status_code == 202, r.text
            deployment_id = r.json()["deployment_id"]
            await _until_active(c, deployment_id)
            # Hundreds of requests in a few seconds: a key without limits, as an admin
            # would give a load test.
            unlimited = {"management_per_minute": None, "inference_per_minute": None}
            r = await c.post(
                "/auth/api-keys",
                json={"name": "fuzz", "scope": "admin", "rate_limits": unlimited},
            )
            assert r.status_code == 201, r.text
            key = r.json()["key"]
            # A key the fuzzer may revoke or change without locking itself out.
            r = await c.post("/auth/api-keys", json={"name": "victim", "scope": "read_only"})
            assert r.status_code == 201, r.text
            out["live"] = Live(
                base_url=str(c.base_url).rstrip("/"),
                key=key,
                ids={
                    "model_name": "churn",
                    "model_version": version_id,
                    "deployment_id": deployment_id,
                    "upload_id": upload_id,
                    "key_id": r.json()["key_id"],
                },
            )
            ready.set()
            # The test thread says when to stop, through a thread-safe event.
            await asyncio.to_thread(stop.wait)


@pytest.fixture(scope="module")
def live(
    postgres_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """The platform on a real socket, served from a thread with its own event loop."""
    out: dict[str, Any] = {}
    ready, stop = threading.Event(), threading.Event()
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"

    def main() -> None:
        try:
            asyncio.run(_run_stack(postgres_url, kafka_bootstrap, data_dir, out, ready, stop))
        except BaseException as exc:
            out["error"] = exc
            ready.set()

    thread = threading.Thread(target=main, name="fuzzed-stack", daemon=True)
    thread.start()
    ready.wait(180)
    if "live" not in out:
        stop.set()
        raise RuntimeError("the stack did not start") from out.get("error")
    try:
        yield out["live"]
    finally:
        stop.set()
        thread.join(60)
        if "error" in out:
            raise out["error"]


#: The OpenAPI document the app serves at /schema/openapi.json, built the same way here
#: (no server needed) so the cases exist at collection time; test_the_document_is_served
#: checks that it is the one served.
DOCUMENT = create_app(Settings()).openapi_schema.to_schema()
schema = schemathesis.openapi.from_dict(DOCUMENT)

# Schemathesis' own strategies trip Hypothesis' deprecation of `random` inside strategies.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


def test_the_document_is_served(live: Live) -> None:
    r = httpx.get(f"{live.base_url}/schema/openapi.json")
    assert r.status_code == 200 and r.json()["paths"].keys() == DOCUMENT["paths"].keys()
    r = httpx.get(f"{live.base_url}/models/churn", headers={"x-api-key": live.key})
    assert r.status_code == 200 and r.json()["status"] == "READY", r.text


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_server_errors(case: schemathesis.Case[Any], live: Live) -> None:
    headers = {"Authorization": f"Bearer {live.key}"}
    case.call_and_validate(base_url=live.base_url, headers=headers, checks=[not_a_server_error])
    if case.method.upper() == "DELETE" or not case.path_parameters:
        return  # deleting the real model or keys would leave later cases nothing real
    real = {k: live.ids[k] for k in case.path_parameters if k in live.ids}
    case.path_parameters = {**case.path_parameters, **real}
    case.call_and_validate(base_url=live.base_url, headers=headers, checks=[not_a_server_error])
