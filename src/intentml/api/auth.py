"""API-key authentication for every route except those marked `exclude_from_auth`.

A middleware, not a per-route dependency, so a new route cannot forget the check.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from intentml.domain.keys import hash_key
from projections import queries as q

#: How long a verified key is trusted without asking the database again.
KEY_CACHE_TTL_S = 2.0


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
    """Resolve the presented key to a Principal, caching hits briefly."""

    _cache: dict[str, tuple[float, Principal]] = {}

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        key = presented_key(connection.headers)
        if not key:
            raise NotAuthorizedException("missing API key")
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return AuthenticationResult(user=hit[1], auth=key)
        platform = connection.app.state.platform
        row = await platform.pool.fetchrow(q.API_KEY_BY_HASH, digest)
        if row is None:
            raise NotAuthorizedException("invalid API key")
        principal = Principal(row["key_id"], row["account_id"], row["scope"])
        self._cache[digest] = (now + KEY_CACHE_TTL_S, principal)
        return AuthenticationResult(user=principal, auth=key)
