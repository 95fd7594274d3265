"""examples/webhook_subscriber.py against the real broker and platform, posting to a
local HTTP receiver: it gets VersionTrained and DeploymentActivated, once each, and a
restarted subscriber resumes after what it committed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import uvicorn

from examples.webhook_subscriber import WebhookSubscriber
from intentml.config import Settings
from intentml.infra.embedded import free_port
from tests.stack import platform_stack

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Receiver:
    """A webhook endpoint: records each POSTed notification; the first `fail` POSTs get
    a 503, as a webhook that is down would."""

    def __init__(self, fail: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.fail = fail
        self.changed = asyncio.Condition()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = 204
        if self.fail > 0:
            self.fail -= 1
            status = 503
        else:
            self.received.append(json.loads(body))
            self.keys.append(dict(scope["headers"])[b"idempotency-key"].decode())
            async with self.changed:
                self.changed.notify_all()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def wait_for(self, types: list[str], timeout_s: float = 60.0) -> None:
        """Until the received types are `types` (in this order), or fail."""
        async with asyncio.timeout(timeout_s), self.changed:
            await self.changed.wait_for(lambda: [n["type"] for n in self.received] == types)


@contextlib.asynccontextmanager
async def serving(app: Receiver) -> AsyncIterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", loop="none")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the receiver failed to start"
            await asyncio.sleep(0.01)  # uvicorn exposes no startup event
        yield f"http://127.0.0.1:{server.config.port}/hook"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def subscribed(subscriber: WebhookSubscriber) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(subscriber.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def test_the_webhook_subscriber(settings: Settings) -> None:
    receiver = Receiver(fail=1)  # the first delivery fails: it is retried, not lost
    async with platform_stack(settings) as stack, serving(receiver) as url:
        group = f"hooks-{settings.topic}"

        def subscriber() -> WebhookSubscriber:
            return WebhookSubscriber(
                settings.kafka_bootstrap_servers, url, settings.topic, group, retry_s=0.05
            )

        async with subscribed(subscriber()):
            created = await stack.ready_model("churn")
            r = await stack.client.post("/models/churn/deploy", json={})
            assert r.status_code == 202, r.text
            await receiver.wait_for(["VersionTrained", "DeploymentActivated"])

        trained, activated = receiver.received
        assert trained["model_name"] == "churn" and trained["model_version"] == "v1"
        # VersionTrained v2 keeps the build's outcome in `result` (v1: loose in `data`)
        assert trained["account_id"] == "default" and "metric_value" in trained["data"]["result"]
        assert activated["data"]["deployment_id"] == r.json()["deployment_id"]
        assert len(set(receiver.keys)) == 2  # the idempotency keys: the event ids

        # a restart resumes after its committed offsets: only the new version is posted
        async with subscribed(subscriber()):
            r = await stack.client.post("/models/churn/retrain", json={})
            assert r.status_code == 202, r.text
            assert (await stack.wait_status("churn", "v2"))["status"] == "READY"
            await receiver.wait_for(["VersionTrained", "DeploymentActivated", "VersionTrained"])
        assert receiver.received[2]["model_version"] == "v2"
        assert created["model_name"] == "churn"
