"""Per-key rate limits as token buckets: pure functions over a Struct and a time.

A key has one bucket per kind of request: `inference` (the prediction routes)
and `management` (everything else). A bucket holds at most `per_minute` tokens
(so a burst of a whole minute's allowance is fine) and refills at
`per_minute / 60` tokens per second; each request takes one.

The API processes of a deployment share each bucket through PostgreSQL: every
process spends from its own copy and, about once a second, reports what it
spent and adopts the shared balance (`settle`). Times are seconds since the
epoch, because the shared balance is compared across processes.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import msgspec

from intentml.domain.scopes import PREDICTION_ROUTES
from intentml.events.types import RateLimits

Kind = Literal["management", "inference"]
MANAGEMENT: Kind = "management"
INFERENCE: Kind = "inference"

#: The fewest requests per minute a key's own limit may allow: a limit of 0 would lock the
#: key out for good, and "no limit" is None, not 0. The one rule every writer of limits
#: checks (the fold, the API's bodies, the operator CLI).
MIN_PER_MINUTE = 1
#: The most a request body may ask for (a million a second): bounds the API's input only.
MAX_PER_MINUTE = 60_000_000
#: Requests per minute as the API takes them, bursts included.
PerMinute = Annotated[int, msgspec.Meta(ge=MIN_PER_MINUTE, le=MAX_PER_MINUTE)]
#: Why limits that break the rule are refused.
BAD_LIMITS = f"a rate limit is at least {MIN_PER_MINUTE} request per minute, or none"


def valid_per_minute(per_minute: int | None) -> bool:
    """Whether one limit keeps the rule (None: no limit)."""
    return per_minute is None or per_minute >= MIN_PER_MINUTE


def valid_limits(limits: RateLimits | None) -> bool:
    """Whether a key's own limits keep the rule (None: the platform's defaults)."""
    if limits is None:
        return True
    return valid_per_minute(limits.management_per_minute) and valid_per_minute(
        limits.inference_per_minute
    )


class Bucket(msgspec.Struct, frozen=True):
    """The tokens of one bucket at time `at`; negative while overspent requests are owed."""

    tokens: float
    at: float


class Taken(msgspec.Struct, frozen=True):
    """The verdict on one request: the bucket after it, and 0.0 if it may go ahead, else
    the seconds until a token is there."""

    bucket: Bucket
    retry_after: float


def full(per_minute: int, now: float) -> Bucket:
    """A bucket nobody has spent from."""
    return Bucket(float(per_minute), now)


def refill(bucket: Bucket, per_minute: int, now: float) -> Bucket:
    """The bucket at `now`: refilled for the time since `at`, never above `per_minute`.

    A clock behind `at` (another process's, which set the shared balance) refills nothing.
    """
    elapsed = max(0.0, now - bucket.at)
    tokens = min(float(per_minute), bucket.tokens + elapsed * per_minute / 60.0)
    return Bucket(tokens, max(bucket.at, now))


def rescale(bucket: Bucket, old_per_minute: int, new_per_minute: int) -> Bucket:
    """The bucket after an admin changed the key's limit: what was spent still counts,
    against the new limit (raising a limit helps at once, lowering it may leave a debt)."""
    tokens = min(float(new_per_minute), bucket.tokens + new_per_minute - old_per_minute)
    return Bucket(tokens, bucket.at)


def take(bucket: Bucket, per_minute: int, now: float) -> Taken:
    """Take one token for a request at `now`, if there is one."""
    current = refill(bucket, per_minute, now)
    if current.tokens >= 1.0:
        return Taken(Bucket(current.tokens - 1.0, current.at), 0.0)
    return Taken(current, (1.0 - current.tokens) * 60.0 / per_minute)


def spend(bucket: Bucket, per_minute: int, now: float) -> Bucket:
    """The bucket after a request that was already served is counted: one token less,
    into debt if need be (it refills before anything more is served)."""
    current = refill(bucket, per_minute, now)
    return Bucket(current.tokens - 1.0, current.at)


def settle(shared: Bucket, spent_meanwhile: int) -> Bucket:
    """A process's copy after a sync: the shared balance (every process's spending
    included), less what this process spent while the sync was on its way."""
    return Bucket(shared.tokens - spent_meanwhile, shared.at)


def request_kind(route: str) -> Kind:
    """Which bucket a request to `route` (a path format) spends from."""
    return INFERENCE if route in PREDICTION_ROUTES else MANAGEMENT


def limit_for(limits: RateLimits, kind: Kind) -> int | None:
    """A key's requests per minute of `kind`; None: no limit."""
    return limits.inference_per_minute if kind == INFERENCE else limits.management_per_minute


def retry_after_header(seconds: float) -> str:
    """`Retry-After` in whole seconds, rounded up so a client that waits it gets a token."""
    return str(max(1, math.ceil(seconds)))
