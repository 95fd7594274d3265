"""The scope rules: which scope each method and route needs, and which scopes cover which."""

from __future__ import annotations

import pytest

from intentml.domain.keys import ADMIN, READ_ONLY, READ_WRITE, SCOPES
from intentml.domain.scopes import PREDICTION_ROUTES, permits, required_scope


@pytest.mark.parametrize(
    ("method", "route", "needed"),
    [
        ("GET", "/models", READ_ONLY),
        ("get", "/models/{model_name}/{model_version}/describe", READ_ONLY),
        ("HEAD", "/uploads/{upload_id}", READ_ONLY),
        ("POST", "/models/{model_name}/{model_version}/infer", READ_ONLY),
        ("POST", "/models/{model_name}/{model_version}/predictions", READ_ONLY),
        ("POST", "/predict/{deployment_id}", READ_ONLY),
        ("POST", "/uploads", READ_WRITE),
        ("POST", "/models/{model_name}", READ_WRITE),
        ("PATCH", "/models/{model_name}", READ_WRITE),
        ("DELETE", "/models/{model_name}/deployments/{deployment_id}", READ_WRITE),
        ("PUT", "/models/{model_name}/{model_version}/infer", READ_WRITE),
        ("DELETE", "/predict/{deployment_id}", READ_WRITE),
        # a route nobody listed is a write unless its method only reads
        ("POST", "/something/new", READ_WRITE),
        ("GET", "/something/new", READ_ONLY),
        ("GET", "/auth/api-keys", ADMIN),
        ("POST", "/auth/api-keys", ADMIN),
        ("DELETE", "/auth/api-keys/{key_id}", ADMIN),
        ("GET", "/auth", ADMIN),
        ("GET", "/authors", READ_ONLY),
    ],
)
def test_required_scope(method: str, route: str, needed: str) -> None:
    assert required_scope(method, route) == needed


def test_prediction_routes_are_path_formats() -> None:
    # Litestar's path formats carry no converters ({model_name}, not {model_name:str}).
    assert all(":" not in r and r.startswith("/") for r in PREDICTION_ROUTES)


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [
        (READ_ONLY, {READ_ONLY}),
        (READ_WRITE, {READ_ONLY, READ_WRITE}),
        (ADMIN, {READ_ONLY, READ_WRITE, ADMIN}),
        ("root", set()),
        ("", set()),
        ("ADMIN", set()),
    ],
)
def test_each_scope_covers_the_weaker_ones_and_unknown_scopes_nothing(
    scope: str, allowed: set[str]
) -> None:
    assert {s for s in SCOPES if permits(scope, s)} == allowed


def test_the_prediction_routes_are_exactly_the_apps_inference_posts() -> None:
    # A renamed prediction route would silently need read_write: pin the list to the app.
    from litestar.routes import HTTPRoute

    from intentml.api.app import create_app
    from intentml.config import Settings

    app = create_app(Settings())
    inference_posts = {
        route.path_format
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if "POST" in handler.http_methods and handler.fn.__module__ == "intentml.api.inference"
    }
    assert inference_posts == PREDICTION_ROUTES
