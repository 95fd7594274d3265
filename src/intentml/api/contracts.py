"""`GET /events/asyncapi.json`: the event contract for subscribers.

Public like `/schema`: it describes types only (the topic, keys, headers and the
payload schemas), never an account's data, and a subscriber's developer needs it
before holding a key.
"""

from __future__ import annotations

from typing import Any

from litestar import get

from intentml.api.platform import PlatformDep
from intentml.events.contract import asyncapi


@get(
    "/events/asyncapi.json",
    exclude_from_auth=True,
    summary="AsyncAPI 3 document of the event log: topic, keys, headers, event payloads",
    tags=["events"],
)
async def asyncapi_document(platform: PlatformDep) -> dict[str, Any]:
    """The contract of the events topic this platform writes (with its topic name)."""
    return asyncapi(platform.settings.topic)
