"""The app factory: routes, dependencies, auth, error handlers and OpenAPI in one place."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

from intentml.api.audit import AuditController
from intentml.api.auth import ApiKeyAuthentication
from intentml.api.build_logs import BuildLogController
from intentml.api.contracts import asyncapi_document
from intentml.api.deployments import DeploymentController
from intentml.api.errors import EXCEPTION_HANDLERS, document_errors
from intentml.api.health import health
from intentml.api.idempotency import IdempotencyMiddleware, IdempotentOperation
from intentml.api.inference import InferenceController
from intentml.api.keys import ApiKeyController
from intentml.api.models import ModelController
from intentml.api.platform import Platform, open_platform
from intentml.api.storable import refuse_unstorable_text
from intentml.api.uploads import UploadController
from intentml.api.versions import VersionController
from intentml.config import Settings
from intentml.domain.scopes import is_command

#: Routes without a key: liveness, and the event contract (types only, like /schema).
PUBLIC_PATHS = frozenset({"/health", "/events/asyncapi.json"})


def _platform(state: State) -> Platform:
    platform: Platform = state.platform
    return platform


def create_app(settings: Settings) -> Litestar:
    """Build the ASGI app for `settings` (services already resolved)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_platform(settings) as platform:
            app.state.platform = platform
            # Everything loaded so far lives as long as the process: keep it out of the
            # collector, or each full collection (a 10k-row batch triggers one every few
            # requests) walks ~100k start-up objects and stalls requests for tens of ms.
            gc.collect()
            gc.freeze()
            yield

    openapi = OpenAPIConfig(
        title="intentml",
        version="0.1.0",
        description="Tabular data plus a sentence of intent in; a versioned, deployable model out.",
        path="/schema",
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer"),
                "apiKey": SecurityScheme(
                    type="apiKey", name="x-api-key", security_scheme_in="header"
                ),
            }
        ),
        security=[{"bearer": []}, {"apiKey": []}],
    )
    auth = DefineMiddleware(ApiKeyAuthentication, exclude=["^/schema"])
    config: dict[str, Any] = {
        "route_handlers": [
            health,
            asyncapi_document,
            UploadController,
            BuildLogController,
            ModelController,
            VersionController,
            DeploymentController,
            AuditController,
            InferenceController,
            ApiKeyController,
        ],
        "dependencies": {"platform": Provide(_platform, sync_to_thread=False)},
        # In this order: the key (and the account) first, then the idempotency of commands.
        "middleware": [auth, IdempotencyMiddleware],
        "before_request": refuse_unstorable_text,
        "exception_handlers": EXCEPTION_HANDLERS,
        "openapi_config": openapi,
        "lifespan": [lifespan],
        "request_max_body_size": settings.max_body_bytes,
        "debug": False,
    }
    app = Litestar(**config)
    for route in app.routes:
        if isinstance(route, HTTPRoute) and not route.path.startswith("/schema"):
            for handler in route.route_handlers:
                document_errors(handler, public=route.path in PUBLIC_PATHS)
                if any(is_command(m, route.path_format) for m in handler.http_methods):
                    handler.operation_class = IdempotentOperation
    return app
