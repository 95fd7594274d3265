"""An event of an older schema version in the real log still decodes, is upcast, and
projects exactly as today's version of it does."""

from __future__ import annotations

import msgspec

from intentml.cli.events import verify_archive
from intentml.config import Settings
from intentml.domain.keys import hash_key, key_id_for
from intentml.events.commands import submit
from intentml.events.envelope import decode, make_event
from intentml.events.types import ApiKeyIssued
from tests.stack import platform_stack


def _issue(secret: str, issued_by: str) -> ApiKeyIssued:
    key_hash = hash_key(secret)
    return ApiKeyIssued(
        key_id=key_id_for(key_hash), key_hash=key_hash, scope="read_only", issued_by=issued_by
    )


async def test_a_version_1_event_projects_like_version_2(settings: Settings) -> None:
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        admin = key_id_for(hash_key(settings.api_key))
        old_key, new_key = "iml_sk_" + "o" * 32, "iml_sk_" + "n" * 32
        # v1 as its producers wrote it: the author left empty, meaning the actor
        v1 = make_event(_issue(old_key, ""), account_id="default", actor=admin)
        v1 = msgspec.structs.replace(v1, schema_version=1)
        v2 = make_event(_issue(new_key, admin), account_id="default", actor=admin)
        assert v2.schema_version == 2
        for env in (v1, v2):
            outcome = await submit(stack.log, stack.watcher, stack.pool, env, 10.0)
            assert outcome.applied and outcome.accepted, outcome

        # the log keeps the v1 bytes as written; decoding upcasts them
        value = await stack.pool.fetchval(
            "SELECT value FROM events WHERE event_id = $1", v1.event_id
        )
        assert msgspec.json.decode(value)["schema_version"] == 1
        assert msgspec.json.decode(value)["data"]["issued_by"] == ""
        upcast = decode(value)
        assert upcast.schema_version == 2
        assert isinstance(upcast.data, ApiKeyIssued) and upcast.data.issued_by == admin

        # projected the same: the two keys' rows differ only in what names the key
        rows = {
            r["key_hash"]: dict(r)
            for r in await stack.pool.fetch(
                "SELECT * FROM api_keys WHERE key_hash = ANY($1::text[])",
                [hash_key(old_key), hash_key(new_key)],
            )
        }
        old_row, new_row = rows[hash_key(old_key)], rows[hash_key(new_key)]
        assert old_row["created_by"] == admin
        for row in (old_row, new_row):
            for identity in ("key_id", "key_hash", "created_at"):
                row.pop(identity)
        assert old_row == new_row
        r = await stack.client.get("/models", headers={"Authorization": f"Bearer {old_key}"})
        assert r.status_code == 200, r.text
        # and the chain still holds over the old bytes
        assert (await verify_archive(settings)).intact
