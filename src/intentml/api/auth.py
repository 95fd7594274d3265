"""API-key authentication, rate limits and scope checks for every route but the excluded ones.

A middleware, not a per-route dependency, so a new route cannot forget a
check: the key must be live (401 otherwise), within its rate limit for the
kind of request (429 otherwise), and its scope must cover what
`required_scope` says the method and route need (403 otherwise).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Receive, Scope, Send

from intentml.api.errors import ApiError
from intentml.api.server import BODY_INCOMPLETE, BODY_PENDING
from intentml.domain.keys import hash_key
from intentml.domain.ratelimit import Kind, limit_for, request_kind, retry_after_header
from intentml.domain.scopes import permits, required_scope
from intentml.events.types import RateLimits
from projections.read_models.keys import live_key_by_hash

#: Scope key: (key id, kind, per minute) of a request to charge when it is answered.
CHARGE_WHEN_ANSWERED = "intentml.charge_when_answered"


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the key, the account it belongs to, and the key's rate limits
    (its own, or the platform's defaults)."""

    key_id: str
    account_id: str
    scope: str
    limits: RateLimits = RateLimits()


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Charged when answered (see `authenticate_request`), unless the body never
            # arrived in full: a stalled or vanished client spends nothing of the limit.
            later: tuple[str, Kind, int | None] | None = scope.get(CHARGE_WHEN_ANSWERED)  # type: ignore[assignment]
            if later is not None and not scope.get(BODY_INCOMPLETE):
                scope["app"].state.platform.limiter.charge(*later)

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        key = presented_key(connection.headers)
        if not key:
            raise NotAuthorizedException("missing API key")
        digest = hash_key(key)
        platform = connection.app.state.platform

        async def load() -> Principal | None:
            stored = await live_key_by_hash(platform.pool, digest)
            if stored is None:
                return None
            own = stored.rate_limits
            limits = platform.settings.default_rate_limits if own is None else own
            return Principal(stored.key_id, stored.account_id, stored.scope, limits)

        # Before any lookup: an address that keeps presenting unknown keys is refused.
        address = connection.client.host if connection.client else ""
        wait = platform.failed_auth.blocked(address, digest)
        if wait:
            raise ApiError(
                429,
                f"too many failed authentications from this address; retry after "
                f"{retry_after_header(wait)} s with a valid API key",
                {"kind": "failed_authentication", "retry_after_s": wait},
                headers={"Retry-After": retry_after_header(wait)},
            )
        # Cached until the projector applies its next batch (see Platform.keys).
        principal: Principal | None = await platform.keys.get(digest, load)
        if principal is None:
            platform.failed_auth.failed(address)
            raise NotAuthorizedException("invalid API key")
        platform.failed_auth.verified(digest)
        route = connection.scope["path_template"]
        # Every authenticated request counts, a refused one too: it costs us the same.
        # One whose body is still on its way is only looked at now and charged when it
        # is answered: if the body never arrives, it costs nothing (see `__call__`).
        kind = request_kind(route)
        per_minute = limit_for(principal.limits, kind)
        pending = BODY_PENDING in connection.scope
        retry_after = platform.limiter.check(principal.key_id, kind, per_minute, not pending)
        if pending and not retry_after:
            connection.scope[CHARGE_WHEN_ANSWERED] = (principal.key_id, kind, per_minute)  # type: ignore[literal-required]
        if retry_after:
            raise ApiError(
                429,
                f"this key's {kind} rate limit of {per_minute} requests per minute is used up; "
                f"retry after {retry_after_header(retry_after)} s (an admin of the account can "
                f"change the key's limits: PATCH /auth/api-keys/{principal.key_id})",
                {"kind": kind, "limit_per_minute": per_minute, "retry_after_s": retry_after},
                headers={"Retry-After": retry_after_header(retry_after)},
            )
        # Only HTTP routes exist; a websocket (no method) would need read access to open.
        method = str(connection.scope.get("method", "GET"))
        needed = required_scope(method, route)
        if not permits(principal.scope, needed):
            raise ApiError(
                403,
                f"this key's scope '{principal.scope}' does not allow this request; it needs "
                f"'{needed}' (an admin of the account can issue such a key: POST /auth/api-keys)",
                {"scope": principal.scope, "required_scope": needed},
            )
        return AuthenticationResult(user=principal, auth=key)
