"""API-key authentication and scope checks for every route except `exclude_from_auth` ones.

A middleware, not a per-route dependency, so a new route cannot forget either
check: the key must be live (401 otherwise), and its scope must cover what
`required_scope` says the method and route need (403 otherwise).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from intentml.api.errors import ApiError
from intentml.domain.keys import hash_key
from intentml.domain.scopes import permits, required_scope
from projections import queries as q


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the key and the account it belongs to."""

    key_id: str
    account_id: str
    scope: str


def presented_key(headers: Any) -> str | None:
    """The key from `Authorization: Bearer <key>` or `x-api-key: <key>`."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return str(token.strip())
    key = headers.get("x-api-key")
    return str(key).strip() if key else None


class ApiKeyAuthentication(AbstractAuthenticationMiddleware):
    """Resolve the presented key to a Principal and check its scope for the route."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        key = presented_key(connection.headers)
        if not key:
            raise NotAuthorizedException("missing API key")
        digest = hash_key(key)
        platform = connection.app.state.platform

        async def load() -> Principal | None:
            row = await platform.pool.fetchrow(q.API_KEY_BY_HASH, digest)
            return (
                None if row is None else Principal(row["key_id"], row["account_id"], row["scope"])
            )

        # Cached until the projector applies its next batch (see Platform.keys).
        principal: Principal | None = await platform.keys.get(digest, load)
        if principal is None:
            raise NotAuthorizedException("invalid API key")
        # Only HTTP routes exist; a websocket (no method) would need read access to open.
        method = str(connection.scope.get("method", "GET"))
        needed = required_scope(method, connection.scope["path_template"])
        if not permits(principal.scope, needed):
            raise ApiError(
                403,
                f"this key's scope '{principal.scope}' does not allow this request; it needs "
                f"'{needed}' (an admin of the account can issue such a key: POST /auth/api-keys)",
                {"scope": principal.scope, "required_scope": needed},
            )
        return AuthenticationResult(user=principal, auth=key)
