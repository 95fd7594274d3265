"""Access control over every route of the app, against the real stack.

No key, a wrong or revoked key → 401; a key without the scope → 403; another
account's model, version, upload, deployment, job or key → 404, exactly as if
it did not exist. The routes are read from the app itself, so a new route is
checked the moment it exists (and fails here until this module knows how to
call it).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar.routes import HTTPRoute

from intentml.api.app import create_app
from intentml.cli.accounts import create_account, create_key
from intentml.config import Settings
from tests.conftest import fresh_database, settings_for
from tests.data import CHURN_INTENT, POSITIVE, churn_rows, to_csv
from tests.stack import Stack, error_of, platform_stack

Route = tuple[str, str]

#: Routes the issues make public: liveness, and the event contract (it documents types only).
PUBLIC_PATHS = {"/health", "/events/asyncapi.json"}


def app_routes() -> list[Route]:
    """(method, path format) of every route that needs a key: all but the public ones
    (/health, the event contract) and the docs.
    OPTIONS handlers are Litestar's own, generated for every path."""
    routes = set()
    for route in create_app(Settings()).routes:
        path = route.path_format
        if not isinstance(route, HTTPRoute) or path in PUBLIC_PATHS or path.startswith("/schema"):
            continue
        for handler in route.route_handlers:
            routes |= {(m, path) for m in handler.http_methods if m != "OPTIONS"}
    return sorted(routes)


ROUTES = app_routes()
ROUTE_IDS = [f"{m} {p}" for m, p in ROUTES]

#: What the issue says each route needs, stated here independently of the policy module.
PREDICTIONS = {
    ("POST", "/models/{model_name}/{model_version}/infer"),
    ("POST", "/models/{model_name}/{model_version}/predictions"),
    ("POST", "/predict/{deployment_id}"),
}
#: A dry run changes nothing either: the weakest key may plan a model.
DRY_RUNS = {("POST", "/models/{model_name}/plan")}
WEAKER = {"read_only": [], "read_write": ["read_only"], "admin": ["read_only", "read_write"]}


def needed_scope(route: Route) -> str:
    method, path = route
    if path.startswith("/auth/"):
        return "admin"
    if method == "GET" or route in PREDICTIONS or route in DRY_RUNS:
        return "read_only"
    return "read_write"


@dataclass
class World:
    """Account `default` with a READY, deployed model, and account `other` next to it."""

    stack: Stack
    #: Path parameters naming the first account's resources.
    ids: dict[str, str]
    #: Secrets of the first account's keys by scope, and a revoked one.
    keys: dict[str, str]
    #: An admin key of the other account.
    other: str
    #: What only the first account knows: it must never reach the other account.
    private: list[str]


#: Path parameters that name nothing in any account, for "as if it did not exist".
GHOST_IDS = {
    "model_name": "ghost-model",
    "model_version": "v1",
    "deployment_id": "dep_ghost",
    "upload_id": "upload-ghost",
    "key_id": "key_ghost",
}


@pytest.fixture(scope="module")
async def world(
    postgres_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """One stack for the whole module: every route is called several times against it."""
    async with fresh_database(postgres_url) as url:
        data_dir: Path = tmp_path_factory.mktemp("access") / "data"
        # Hundreds of wrong keys come from this one client on purpose: no failed-auth limit
        # (test_rate_limits tests it).
        settings = msgspec.structs.replace(
            settings_for(url, kafka_bootstrap, data_dir), rate_limit_failed_auth=None
        )
        async with platform_stack(settings) as stack:
            c = stack.client
            r = await c.post(
                "/uploads",
                files={"file": ("alpha-private.csv", to_csv(churn_rows(300)), "text/csv")},
            )
            assert r.status_code == 201, r.text
            upload_id = r.json()["upload_id"]
            r = await c.post("/models/churn", json={"intent": CHURN_INTENT, "upload_id": upload_id})
            assert r.status_code == 202, r.text
            created = r.json()
            assert (await stack.wait_status("churn"))["status"] == "READY"
            version_id = (await c.get("/models/churn/v1")).json()["version_id"]
            r = await c.post("/models/churn/deploy", json={})
            assert r.status_code == 202, r.text
            deployment_id = r.json()["deployment_id"]
            await _wait_active(stack, deployment_id)

            keys: dict[str, str] = {}
            key_ids: dict[str, str] = {}
            for scope in ("read_only", "read_write", "admin", "revoked"):
                r = await c.post(
                    "/auth/api-keys",
                    json={
                        "name": f"{scope} key",
                        "scope": "admin" if scope == "revoked" else scope,
                    },
                )
                assert r.status_code == 201, r.text
                keys[scope], key_ids[scope] = r.json()["key"], r.json()["key_id"]
            r = await c.delete(f"/auth/api-keys/{key_ids['revoked']}")
            assert r.status_code == 200, r.text

            assert await create_account(settings, "other")
            other = await create_key(settings, "other", "admin", name="other admin")
            assert other.applied
            yield World(
                stack=stack,
                ids={
                    "model_name": "churn",
                    "model_version": "v1",
                    "deployment_id": deployment_id,
                    "upload_id": upload_id,
                    "key_id": key_ids["read_only"],
                },
                keys=keys,
                other=other.secret,
                private=[
                    created["model_id"],
                    created["job_id"],
                    version_id,
                    "alpha-private.csv",
                    "read_only key",
                    *key_ids.values(),
                ],
            )


async def _wait_active(stack: Stack, deployment_id: str, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        r = await stack.client.get(f"/models/churn/deployments/{deployment_id}")
        if r.json()["status"] == "ACTIVE":
            return
        assert asyncio.get_running_loop().time() < deadline, r.text
        await asyncio.sleep(0.05)  # a client polling the deployment


def _url(path: str, ids: dict[str, str]) -> str:
    def fill(m: re.Match[str]) -> str:
        if m.group(1) not in ids:
            pytest.fail(f"unknown path parameter {{{m.group(1)}}}: add it to World.ids")
        return ids[m.group(1)]

    return re.sub(r"\{(\w+)\}", fill, path)


def _body(route: Route, ids: dict[str, str]) -> dict[str, Any]:
    """A valid body for the route, so a handler gets as far as looking things up."""
    bodies: dict[Route, Any] = {
        ("POST", "/models/{model_name}"): {"intent": CHURN_INTENT, "upload_id": ids["upload_id"]},
        ("POST", "/models/{model_name}/plan"): {
            "intent": CHURN_INTENT,
            "upload_id": ids["upload_id"],
        },
        ("PATCH", "/models/{model_name}"): {"description": "taken over"},
        ("POST", "/models/{model_name}/versions"): {"dataset_id": ids["upload_id"]},
        ("POST", "/models/{model_name}/retrain"): {},
        ("POST", "/models/{model_name}/{model_version}/cancel"): {},
        ("POST", "/models/{model_name}/deploy"): {},
        ("POST", "/models/{model_name}/{model_version}/infer"): POSITIVE,
        ("POST", "/models/{model_name}/{model_version}/predictions"): [POSITIVE],
        ("POST", "/predict/{deployment_id}"): POSITIVE,
        ("POST", "/auth/api-keys"): {"name": "intruder", "scope": "admin"},
        ("PATCH", "/auth/api-keys/{key_id}"): {"rate_limits": None},
        ("POST", "/models/build-logs"): {},
    }
    if route == ("POST", "/uploads"):
        return {"files": {"file": ("b.csv", to_csv(churn_rows(30)), "text/csv")}}
    if route in bodies:
        return {"json": bodies[route]}
    if route[0] in ("POST", "PUT", "PATCH"):
        pytest.fail(f"{route}: add a valid body to _body")
    return {}


async def call(
    world: World, route: Route, key: str | None, ids: dict[str, str] | None = None
) -> httpx.Response:
    """Call `route` on the first account's resources (or `ids`) with `key` (None: no key)."""
    method, path = route
    ids = ids or world.ids
    headers = {"Authorization": f"Bearer {key}" if key else ""}
    return await world.stack.client.request(
        method, _url(path, ids), headers=headers, **_body(route, ids)
    )


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_no_invalid_or_revoked_key_is_401(world: World, route: Route) -> None:
    error_of(await call(world, route, None), 401, "unauthorized")
    error_of(await call(world, route, "iml_sk_not_a_key"), 401, "unauthorized")
    error_of(await call(world, route, world.keys["revoked"]), 401, "unauthorized")
    r = await world.stack.client.request(
        route[0],
        _url(route[1], world.ids),
        headers={"Authorization": "", "x-api-key": "iml_sk_not_a_key"},
    )
    error_of(r, 401, "unauthorized")


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_a_key_without_the_scope_is_403(world: World, route: Route) -> None:
    needed = needed_scope(route)
    for scope in WEAKER[needed]:
        err = error_of(await call(world, route, world.keys[scope]), 403, "forbidden")
        assert err["details"] == {"scope": scope, "required_scope": needed}
    if needed == "read_only":
        # the weakest key may call it, and it does what it says
        r = await call(world, route, world.keys["read_only"])
        assert r.status_code == 200, r.text


#: What another account gets from the routes that name no resource: only its own things.
async def _own_only(world: World, route: Route) -> None:
    c, other = world.stack.client, {"Authorization": f"Bearer {world.other}"}
    r = await call(world, route, world.other)
    assert all(p not in r.text for p in world.private), r.text
    if route == ("GET", "/models"):
        assert r.status_code == 200 and r.json()["models"] == []
    elif route == ("GET", "/models/build-logs"):
        assert r.status_code == 200 and r.json()["logs"] == []
        job_id = world.private[1]
        r = await c.get("/models/build-logs", params={"job_id": job_id}, headers=other)
        assert r.status_code == 200 and r.json()["logs"] == []
    elif route == ("GET", "/auth/api-keys"):
        assert r.status_code == 200
        assert {k["account_id"] for k in r.json()["api_keys"]} == {"other"}
    elif route == ("POST", "/uploads"):
        assert r.status_code == 201, r.text
        error_of(await c.get(f"/uploads/{r.json()['upload_id']}"), 404, "not_found")
    elif route == ("POST", "/auth/api-keys"):
        assert r.status_code == 201, r.text
        assert r.json()["key_id"] not in (await c.get("/auth/api-keys")).text
    elif route == ("POST", "/models/build-logs"):
        error_of(r, 400, "invalid_request")
    else:
        pytest.fail(f"{route} names no resource: decide what another account sees there")


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_another_accounts_resources_do_not_exist(world: World, route: Route) -> None:
    if "{" not in route[1]:
        await _own_only(world, route)
        return
    real = await call(world, route, world.other)
    error_of(real, 404, "not_found")
    # nothing of the first account's but what the caller itself put in the path
    told = set(world.ids.values())
    assert all(p not in real.text for p in world.private if p not in told), real.text
    # the very answer a name that exists nowhere gets
    ghost = await call(world, route, world.other, GHOST_IDS)
    error_of(ghost, 404, "not_found")
    seen = real.text
    for name, value in world.ids.items():
        seen = seen.replace(value, GHOST_IDS[name])
    assert seen == ghost.text


async def test_the_first_account_is_untouched(world: World) -> None:
    # Runs after the parametrized tests of this module (definition order): nothing the
    # other account and the refused keys tried changed a thing.
    c = world.stack.client
    m = (await c.get("/models/churn")).json()
    assert (
        m["status"] == "READY" and m["description"] == "" and m["deployment_status"] == "DEPLOYED"
    )
    assert [
        v["model_version"] for v in (await c.get("/models/churn/versions")).json()["versions"]
    ] == ["v1"]
    keys = {k["name"]: k["status"] for k in (await c.get("/auth/api-keys")).json()["api_keys"]}
    assert keys == {
        "bootstrap": "active",
        "read_only key": "active",
        "read_write key": "active",
        "admin key": "active",
        "revoked key": "revoked",
    }
    r = await c.get("/models", headers={"Authorization": f"Bearer {world.other}"})
    assert r.json()["models"] == []
