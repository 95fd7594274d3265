"""API keys against the real stack: issue, list, revoke (on every API process), the CLI."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from intentml.api.platform import Platform
from intentml.cli.accounts import OperatorError, create_account, create_key
from intentml.cli.main import main as cli_main
from intentml.config import Settings
from intentml.domain.keys import hash_key
from tests.stack import Stack, api_server, bad_request, error_of, platform_stack


async def issue(stack: Stack, scope: str, name: str = "ci") -> dict[str, Any]:
    """Issue a key through the API with the bootstrap admin key; the 201 body."""
    r = await stack.client.post("/auth/api-keys", json={"name": name, "scope": scope})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def as_key(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_admin_issues_lists_and_revokes_keys(settings: Settings) -> None:
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        c = stack.client
        admin_id = (await c.get("/auth/api-keys")).json()["api_keys"][0]["key_id"]

        reader = await issue(stack, "read_only", name="dashboard")
        assert reader["key"].startswith("iml_sk_") and len(reader["key"]) > 30
        assert reader["key_id"].startswith("key_") and reader["status"] == "active"
        assert reader["scope"] == "read_only" and reader["name"] == "dashboard"
        assert reader["account_id"] == "default" and reader["created_by"] == admin_id
        secret = reader["key"]

        # it works at once, for what its scope allows, with either header
        r = await c.get("/models", headers=as_key(secret))
        assert r.status_code == 200, r.text
        r = await c.get("/models", headers={"Authorization": "", "x-api-key": secret})
        assert r.status_code == 200, r.text
        err = error_of(await c.post("/models/x", headers=as_key(secret), json={}), 403, "forbidden")
        assert err["details"] == {"scope": "read_only", "required_scope": "read_write"}
        error_of(await c.get("/auth/api-keys", headers=as_key(secret)), 403, "forbidden")

        # listed without secret or hash; the secret is nowhere in the log or the read model
        r = await c.get("/auth/api-keys")
        assert r.status_code == 200
        keys = {k["key_id"]: k for k in r.json()["api_keys"]}
        assert set(keys) == {admin_id, reader["key_id"]}
        assert keys[admin_id]["scope"] == "admin" and keys[admin_id]["name"] == "bootstrap"
        assert {"key", "key_hash"}.isdisjoint(keys[reader["key_id"]])
        assert secret not in r.text and hash_key(secret) not in r.text
        events = await stack.pool.fetch("SELECT value FROM events")
        assert all(secret.encode() not in e["value"] for e in events)
        assert await stack.pool.fetchval(
            "SELECT count(*) FROM api_keys WHERE key_hash = $1", hash_key(secret)
        )
        actors = {
            e["actor"]
            for e in await stack.pool.fetch("SELECT actor, value FROM events")
            if reader["key_id"].encode() in e["value"]
        }
        assert actors == {admin_id}

        # revoked: the very next request fails, the list says who and when
        r = await c.delete(f"/auth/api-keys/{reader['key_id']}")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "revoked" and r.json()["revoked_by"] == admin_id
        assert r.json()["revoked_at"] is not None
        error_of(await c.get("/models", headers=as_key(secret)), 401, "unauthorized")
        listed = {k["key_id"]: k for k in (await c.get("/auth/api-keys")).json()["api_keys"]}
        assert listed[reader["key_id"]]["status"] == "revoked"
        error_of(await c.delete(f"/auth/api-keys/{reader['key_id']}"), 409, "conflict")
        error_of(await c.delete("/auth/api-keys/key_0000000000000000"), 404, "not_found")

        # bodies are checked
        bad_request(await c.post("/auth/api-keys", json={"name": "x", "scope": "owner"}))
        bad_request(await c.post("/auth/api-keys", json={"scope": "read_only"}))
        bad_request(await c.post("/auth/api-keys", json={"name": "", "scope": "read_only"}))
        bad_request(
            await c.post("/auth/api-keys", json={"name": "x", "scope": "admin", "key": "mine"})
        )

        # a new admin key can manage keys too, and revoke the one that issued it
        admin2 = await issue(stack, "admin")
        r = await c.delete(f"/auth/api-keys/{admin_id}", headers=as_key(admin2["key"]))
        assert r.status_code == 200, r.text
        error_of(await c.get("/models"), 401, "unauthorized")


async def test_a_revoked_key_fails_on_every_api_process(settings: Settings) -> None:
    async with (
        platform_stack(settings, trainer=False, deployer=False) as stack,
        api_server(settings) as (other_url, other_app),
        httpx.AsyncClient(base_url=other_url, timeout=30.0) as other,
    ):
        key = await issue(stack, "read_write")
        # both processes have verified (and cached) the key
        for client in (stack.client, other):
            for _ in range(2):
                r = await client.get("/models", headers=as_key(key["key"]))
                assert r.status_code == 200, r.text

        r = await stack.client.delete(f"/auth/api-keys/{key['key_id']}")
        assert r.status_code == 200, r.text
        error_of(await stack.client.get("/models", headers=as_key(key["key"])), 401, "unauthorized")

        # The other process learns of the revocation from the projector's notification;
        # once its watcher has the revocation's checkpoint, the key is refused there too.
        at = await stack.pool.fetchrow(
            "SELECT partition, \"offset\" FROM events WHERE type = 'ApiKeyRevoked'"
        )
        assert at is not None
        platform: Platform = other_app.state.platform
        assert await platform.watcher.wait(at["partition"], at["offset"], 10.0)
        error_of(await other.get("/models", headers=as_key(key["key"])), 401, "unauthorized")


async def test_operators_create_accounts_and_keys(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with platform_stack(settings, trainer=False, deployer=False) as stack:
        assert await create_account(settings, "acme") is True
        with pytest.raises(OperatorError, match="already exists"):
            await create_account(settings, "acme")
        with pytest.raises(OperatorError, match="not a valid account name"):
            await create_account(settings, "../etc")
        with pytest.raises(OperatorError, match="intentml accounts create nobody"):
            await create_key(settings, "nobody", "admin")
        with pytest.raises(OperatorError, match="unknown scope"):
            await create_key(settings, "acme", "root")

        issued = await create_key(settings, "acme", "admin", name="ops")
        assert issued.applied and issued.secret.startswith("iml_sk_")
        acme = as_key(issued.secret)
        r = await stack.client.get("/auth/api-keys", headers=acme)
        assert r.status_code == 200, r.text
        [only] = r.json()["api_keys"]
        assert only["key_id"] == issued.key_id and only["account_id"] == "acme"
        assert only["created_by"] == "intentml-cli" and only["name"] == "ops"
        # the accounts know nothing of each other
        r = await stack.client.get("/auth/api-keys")
        assert issued.key_id not in r.text
        default_admin = (await stack.client.get("/auth/api-keys")).json()["api_keys"][0]
        error_of(await stack.client.delete(f"/auth/api-keys/{issued.key_id}"), 404, "not_found")
        r = await stack.client.delete(f"/auth/api-keys/{default_admin['key_id']}", headers=acme)
        error_of(r, 404, "not_found")

        # the command line prints the secret alone on stdout
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers)
        monkeypatch.setenv("INTENTML_TOPIC", settings.topic)
        monkeypatch.setenv("INTENTML_DATA_DIR", str(settings.data_dir))
        capsys.readouterr()
        assert await _run_cli(["keys", "create", "--account", "acme", "--scope", "read_only"]) == 0
        out = capsys.readouterr()
        secret = out.out.strip()
        assert secret.startswith("iml_sk_") and "\n" not in secret
        assert "shown only this once" in out.err
        r = await stack.client.get("/models", headers=as_key(secret))
        assert r.status_code == 200, r.text
        assert await _run_cli(["keys", "create", "--account", "zzz", "--scope", "admin"]) == 1
        assert "intentml accounts create zzz" in capsys.readouterr().err


async def _run_cli(argv: list[str]) -> int:
    """`intentml ...` as a user runs it (its own event loop, so on a thread)."""
    return await asyncio.to_thread(cli_main, argv)
