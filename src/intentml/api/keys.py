"""`/auth/api-keys`: an account's admins issue, list and revoke its keys.

Every route here needs the `admin` scope (see `intentml.domain.scopes`). The
secret of a new key is in the answer of the request that issued it and nowhere
else: the log and the read model keep only its hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from intentml.api.errors import ApiError
from intentml.api.lookups import Req, check_verdict, command_response
from intentml.api.platform import PlatformDep
from intentml.api.schemas import ShortText
from intentml.config import Settings
from intentml.domain.keys import Scope, new_key
from intentml.domain.ratelimit import PerMinute
from intentml.domain.statuses import KeyStatus
from intentml.events.envelope import make_event
from intentml.events.types import ApiKeyLimitsChanged, ApiKeyRevoked, RateLimits
from projections.read_models.keys import ApiKeyRecord, account_key, account_keys


class RateLimitsIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A key's own rate limits: both are required, each a number or null for no limit."""

    management_per_minute: PerMinute | None
    inference_per_minute: PerMinute | None

    def to_event(self) -> RateLimits:
        """The limits as the log records them."""
        return RateLimits(
            management_per_minute=self.management_per_minute,
            inference_per_minute=self.inference_per_minute,
        )


class CreateKeyIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of `POST /auth/api-keys`; without `rate_limits` the key has the platform's."""

    name: ShortText
    scope: Scope
    rate_limits: RateLimitsIn | None = None


class UpdateKeyIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of `PATCH /auth/api-keys/{key_id}`: the key's own limits, or null for the
    platform's defaults."""

    rate_limits: RateLimitsIn | None


class RateLimitsOut(msgspec.Struct, frozen=True, kw_only=True):
    """The limits a key has (null: no limit), and whether they are its own or the defaults."""

    management_per_minute: int | None
    inference_per_minute: int | None
    source: Literal["key", "default"]


class ApiKeyOut(msgspec.Struct, frozen=True, kw_only=True):
    """A key as its account's admins see it: never the secret, never the hash."""

    key_id: str
    account_id: str
    name: str
    scope: str
    status: str
    created_at: datetime
    created_by: str
    rate_limits: RateLimitsOut
    revoked_at: datetime | None = None
    revoked_by: str | None = None


class CreatedKeyOut(ApiKeyOut, frozen=True, kw_only=True):
    """The answer of `POST /auth/api-keys`: the only time the secret is shown."""

    key: str


class ApiKeyList(msgspec.Struct, frozen=True):
    api_keys: list[ApiKeyOut]


def limits_out(own: Any, settings: Settings) -> RateLimitsOut:
    """A key's limits as the API shows them: its own (a `RateLimits` or its jsonb), else
    the platform's defaults."""
    limits = (
        settings.default_rate_limits
        if own is None
        else msgspec.convert(own, RateLimits, from_attributes=True)
    )
    return RateLimitsOut(
        management_per_minute=limits.management_per_minute,
        inference_per_minute=limits.inference_per_minute,
        source="default" if own is None else "key",
    )


def key_out(row: ApiKeyRecord, settings: Settings) -> ApiKeyOut:
    """An api_keys row as the API shows it."""
    return ApiKeyOut(
        key_id=row.key_id,
        account_id=row.account_id,
        name=row.name,
        scope=row.scope,
        status=KeyStatus.REVOKED if row.revoked_at is not None else KeyStatus.ACTIVE,
        created_at=row.created_at,
        created_by=row.created_by,
        rate_limits=limits_out(row.rate_limits, settings),
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )


class ApiKeyController(Controller):
    path = "/auth/api-keys"
    tags = ["auth"]

    @post("/", status_code=201, summary="Issue a key for this account (the secret is shown once)")
    async def create(
        self, request: Req, platform: PlatformDep, data: JSONBody[CreateKeyIn]
    ) -> Response[CreatedKeyOut]:
        """A new key of the caller's account with a name and a scope: `read_only` (reads and
        predictions), `read_write` (everything on models and uploads) or `admin` (also key
        management). Store `key` now: only its hash is kept."""
        principal = request.user
        own = None if data.rate_limits is None else data.rate_limits.to_event()
        key = new_key(data.scope, data.name, principal.key_id, own)
        event = make_event(key.issued, account_id=principal.account_id, actor=principal.key_id)
        outcome = await platform.submit(event)
        check_verdict(outcome, "retry the request")
        body = CreatedKeyOut(
            key_id=key.key_id,
            account_id=principal.account_id,
            name=data.name,
            scope=data.scope,
            status=KeyStatus.ACTIVE,
            created_at=event.occurred_at,
            created_by=principal.key_id,
            rate_limits=limits_out(own, platform.settings),
            key=key.secret,
        )
        return command_response(body, outcome, "/auth/api-keys", done_status=201)

    @get("/", summary="This account's keys, newest first (no secrets)")
    async def list_keys(self, request: Req, platform: PlatformDep) -> ApiKeyList:
        """Every key of the caller's account, active and revoked, without secrets or hashes."""
        keys = await account_keys(platform.pool, request.user.account_id)
        return ApiKeyList([key_out(k, platform.settings) for k in keys])

    @delete("/{key_id:str}", status_code=200, summary="Revoke a key of this account")
    async def revoke(
        self, request: Req, platform: PlatformDep, key_id: FromPath[str]
    ) -> Response[ApiKeyOut]:
        """The key stops working on every API process as soon as the revocation is applied,
        which this request waits for (200; 202 with `Location` if it took too long). A key
        already revoked: 409 (the fold's pre-check)."""
        principal = request.user
        row = await account_key(platform.pool, principal.account_id, key_id)
        if row is None:
            raise ApiError(
                404, f"no API key '{key_id}' in this account; GET /auth/api-keys lists them"
            )
        event = make_event(
            ApiKeyRevoked(key_id=key_id, revoked_by=principal.key_id),
            account_id=principal.account_id,
            actor=principal.key_id,
        )
        outcome = await platform.submit(event)
        check_verdict(outcome, "it was revoked meanwhile")
        if outcome.applied:
            body = key_out(
                await account_key(platform.pool, principal.account_id, key_id) or row,
                platform.settings,
            )
        else:
            body = msgspec.structs.replace(
                key_out(row, platform.settings),
                status=KeyStatus.REVOKED,
                revoked_at=event.occurred_at,
                revoked_by=principal.key_id,
            )
        return command_response(body, outcome, "/auth/api-keys", done_status=200)

    @patch("/{key_id:str}", summary="Change a key's rate limits")
    async def update(
        self,
        request: Req,
        platform: PlatformDep,
        key_id: FromPath[str],
        data: JSONBody[UpdateKeyIn],
    ) -> Response[ApiKeyOut]:
        """`rate_limits`: the key's own requests per minute (`management_per_minute`,
        `inference_per_minute`; null for no limit), or null for the platform's defaults.
        They hold on every API process once applied, which this request waits for (200;
        202 with `Location` if it took too long). A revoked key: 409 (the fold's pre-check)."""
        principal = request.user
        row = await account_key(platform.pool, principal.account_id, key_id)
        if row is None:
            raise ApiError(
                404, f"no API key '{key_id}' in this account; GET /auth/api-keys lists them"
            )
        own = None if data.rate_limits is None else data.rate_limits.to_event()
        event = make_event(
            ApiKeyLimitsChanged(key_id=key_id, rate_limits=own, changed_by=principal.key_id),
            account_id=principal.account_id,
            actor=principal.key_id,
        )
        outcome = await platform.submit(event)
        check_verdict(outcome, "it was revoked meanwhile")
        body = msgspec.structs.replace(
            key_out(row, platform.settings), rate_limits=limits_out(own, platform.settings)
        )
        return command_response(body, outcome, "/auth/api-keys", done_status=200)
