"""A subscriber of the intentml event log: POSTs trained versions and activated
deployments to a webhook.

    python examples/webhook_subscriber.py --bootstrap-servers localhost:9092 \\
        --webhook https://hooks.example.com/intentml [--topic intentml.events] \\
        [--group my-webhooks]

It uses only the public contract (docs/asyncapi.json), not the intentml package:

- its own consumer group, so it reads the whole log at its own pace and never
  takes work from the platform's consumers;
- it routes on the CloudEvents header `ce_type` and decodes only the events it
  wants;
- it commits a partition's offset only after the webhook accepted everything
  before it (at-least-once: after a crash the last events may be posted again, so
  the webhook should treat the `Idempotency-Key` header, the event id, as unique);
- a failing webhook is retried with backoff from the first unposted event, in log
  order, so one model's events arrive in the order they happened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

log = logging.getLogger("webhook_subscriber")

#: The event types this service reacts to (CloudEvents `ce_type` values).
WANTED = {b"ai.intentml.VersionTrained", b"ai.intentml.DeploymentActivated"}


def _header(record: ConsumerRecord[bytes, bytes], name: str) -> bytes | None:
    return next((v for k, v in record.headers if k == name), None)


def notification(event: dict[str, Any]) -> dict[str, Any]:
    """What the webhook receives for one event: who, what, and the event's own fields."""
    data = dict(event["data"])
    data.pop("type", None)
    return {
        "event_id": event["event_id"],
        "type": event["type"],
        "occurred_at": event["occurred_at"],
        "account_id": event["account_id"],
        "model_name": event["model_name"],
        "model_version": f"v{data['version']}" if "version" in data else None,
        "data": data,
    }


class WebhookSubscriber:
    """Consumes the topic in its own group and posts the wanted events to `webhook`."""

    def __init__(
        self,
        bootstrap_servers: str,
        webhook: str,
        topic: str = "intentml.events",
        group_id: str = "example-webhooks",
        retry_s: float = 1.0,
    ) -> None:
        self.webhook = webhook
        self.topic = topic
        self.retry_s = retry_s
        self.posted = 0
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,  # commit after handling, never before
            auto_offset_reset="earliest",  # a new group starts at the beginning of the log
        )

    async def post(self, client: httpx.AsyncClient, record: ConsumerRecord[bytes, bytes]) -> None:
        """POST one wanted event; raises when the webhook does not accept it."""
        event = json.loads(record.value or b"{}")
        r = await client.post(
            self.webhook,
            json=notification(event),
            headers={"Idempotency-Key": event["event_id"]},
        )
        r.raise_for_status()
        self.posted += 1

    async def handle(
        self,
        client: httpx.AsyncClient,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
    ) -> None:
        """Post a partition's batch in order, then commit past it. On a failure, commit
        what was posted and rewind to the first unposted event, to retry it."""
        done = None
        try:
            for record in records:
                if _header(record, "ce_type") in WANTED:
                    await self.post(client, record)
                done = record.offset
        except httpx.HTTPError as exc:
            failed = records[0].offset if done is None else done + 1
            log.warning("webhook failed (%s); retrying from offset %d", exc, failed)
            self.consumer.seek(tp, failed)
            await asyncio.sleep(self.retry_s)  # backoff before the retry
        if done is not None:
            await self.consumer.commit({tp: done + 1})

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set."""
        await self.consumer.start()
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                while not stop.is_set():
                    batch = await self.consumer.getmany(timeout_ms=200)
                    for tp, records in batch.items():
                        await self.handle(client, tp, records)
        finally:
            await self.consumer.stop()


async def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--webhook", required=True, help="URL to POST each notification to")
    parser.add_argument("--topic", default="intentml.events")
    parser.add_argument("--group", default="example-webhooks", help="this service's group")
    args = parser.parse_args()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    subscriber = WebhookSubscriber(args.bootstrap_servers, args.webhook, args.topic, args.group)
    await subscriber.run(stop)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_main())
