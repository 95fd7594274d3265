"""API keys as the API reads them: the live key a request presents, and an account's keys."""

from __future__ import annotations

from datetime import datetime

import msgspec

from intentml.events.types import RateLimits
from projections.read_models import Queryable, decode_all, decode_optional

API_KEY_BY_HASH = """
SELECT key_id, account_id, scope, rate_limits FROM api_keys
WHERE key_hash = $1 AND revoked_at IS NULL
"""
#: What `GET /auth/api-keys` shows of a key: never its hash.
_API_KEY_COLUMNS = (
    "key_id, account_id, name, scope, created_by, created_at, revoked_by, revoked_at, rate_limits"
)
API_KEY = f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE account_id = $1 AND key_id = $2"
API_KEYS = f"""
SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE account_id = $1
ORDER BY created_at DESC, key_id
"""


class LiveKeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An unrevoked key, as authentication needs it."""

    key_id: str
    account_id: str
    scope: str
    #: Its own limits; None: the platform's defaults.
    rate_limits: RateLimits | None


class ApiKeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A key as its account's admins may see it (never its hash)."""

    key_id: str
    account_id: str
    name: str
    scope: str
    created_by: str
    created_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None
    #: Its own limits; None: the platform's defaults.
    rate_limits: RateLimits | None


async def live_key_by_hash(db: Queryable, key_hash: str) -> LiveKeyRecord | None:
    """The unrevoked key with this hash, or None."""
    return decode_optional(await db.fetchrow(API_KEY_BY_HASH, key_hash), LiveKeyRecord)


async def account_key(db: Queryable, account_id: str, key_id: str) -> ApiKeyRecord | None:
    """The account's key `key_id`, active or revoked, or None."""
    return decode_optional(await db.fetchrow(API_KEY, account_id, key_id), ApiKeyRecord)


async def account_keys(db: Queryable, account_id: str) -> list[ApiKeyRecord]:
    """Every key of the account, active and revoked, newest first."""
    return decode_all(await db.fetch(API_KEYS, account_id), ApiKeyRecord)
