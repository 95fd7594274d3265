"""The per-key rate limiter of one API process, shared with the others through PostgreSQL.

`check` decides each request from this process's copy of the key's bucket: no I/O,
so the inference hot path pays a dict lookup and a little arithmetic. `sync`, run
about once a second (`run`), adds what this process spent to the shared buckets
and adopts their balance, which includes every other process's spending. So a
key's limit holds across all API processes, give or take what the others serve
within one sync interval; that excess is then owed (the shared balance goes
negative) and refills before anything more is served.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import asyncpg

from intentml.domain.ratelimit import (
    Bucket,
    Kind,
    full,
    refill,
    rescale,
    settle,
    spend,
    take,
)
from projections import queries as q

log = logging.getLogger(__name__)


class _Entry:
    """This process's copy of one bucket, and what it spent since the last sync."""

    __slots__ = ("bucket", "per_minute", "spent")

    def __init__(self, bucket: Bucket, per_minute: int) -> None:
        self.bucket = bucket
        self.per_minute = per_minute
        self.spent = 0


class RateLimiter:
    """Token buckets per (key, kind) of this process; `clock` is seconds since the epoch
    (shared balances are compared across processes), replaceable in tests."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._entries: dict[tuple[str, Kind], _Entry] = {}
        self._sync_lock = asyncio.Lock()

    def check(self, key_id: str, kind: Kind, per_minute: int | None, take_it: bool = True) -> float:
        """Take a token for one request: 0.0 if it may go ahead, else the seconds until
        one is there. `per_minute` None: no limit (nothing is counted). `take_it` False:
        only look (the request is charged later with `charge`)."""
        if per_minute is None:
            return 0.0
        now = self.clock()
        entry = self._entry(key_id, kind, per_minute, now)
        taken = take(entry.bucket, per_minute, now)
        if not take_it:
            return taken.retry_after
        entry.bucket = taken.bucket
        if taken.retry_after == 0.0:
            entry.spent += 1
        return taken.retry_after

    def charge(self, key_id: str, kind: Kind, per_minute: int | None) -> None:
        """Count a request that was let through by a look (`check(take_it=False)`) and has
        been served: one token, into debt if the bucket ran dry meanwhile."""
        if per_minute is None:
            return
        now = self.clock()
        entry = self._entry(key_id, kind, per_minute, now)
        entry.bucket = spend(entry.bucket, per_minute, now)
        entry.spent += 1

    def _entry(self, key_id: str, kind: Kind, per_minute: int, now: float) -> _Entry:
        entry = self._entries.get((key_id, kind))
        if entry is None:
            # A bucket this process has not seen starts full; the next sync (within a
            # second) brings in what other processes spent.
            entry = self._entries[(key_id, kind)] = _Entry(full(per_minute, now), per_minute)
        if entry.per_minute != per_minute:  # an admin changed the key's limits
            entry.bucket = rescale(entry.bucket, entry.per_minute, per_minute)
            entry.per_minute = per_minute
        return entry

    async def sync(self, pool: asyncpg.Pool) -> None:
        """Add this process's spending to the shared buckets and adopt their balance."""
        async with self._sync_lock:
            now = self.clock()
            # Sorted, so concurrent syncs of several processes lock the rows in one order.
            items = sorted(self._entries.items())
            if not items:
                return
            sent = [entry.spent for _, entry in items]
            rows = await pool.fetch(
                q.SYNC_RATE_BUCKETS,
                now,
                [key_id for (key_id, _), _ in items],
                [kind for (_, kind), _ in items],
                [float(entry.per_minute) for _, entry in items],
                [float(n) for n in sent],
            )
            shared = {(r["key_id"], r["kind"]): Bucket(r["tokens"], r["at"]) for r in rows}
            for (bucket_key, entry), reported in zip(items, sent, strict=True):
                # Requests served while the query ran are left to report next time.
                entry.spent -= reported
                entry.bucket = settle(shared[bucket_key], entry.spent)
                if (
                    entry.spent == 0
                    and refill(entry.bucket, entry.per_minute, now).tokens >= entry.per_minute
                ):
                    # Full and owing nothing: the same as a bucket never seen; forget it.
                    del self._entries[bucket_key]

    async def run(self, pool: asyncpg.Pool, interval_s: float) -> None:
        """Sync every `interval_s` seconds until cancelled; a failed sync is retried with
        the spending kept, and meanwhile each process limits on its own."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.sync(pool)
            except Exception as exc:  # the database may be restarting: keep limiting locally
                log.warning("rate-limit sync failed (%s); retrying", exc)


class FailedAuthLimiter:
    """Failed authentications per client address, in this process only.

    A request with a key that is not known (or revoked) costs a database lookup, and a
    flood of them with random keys would also push the verified keys out of their cache.
    So an address gets `per_minute` failures (a token bucket, bursts included); over
    that, it is refused with 429 before any lookup until the bucket refills, except for
    keys this process has verified before: one bad client behind a shared proxy does
    not lock out the others, and a flood cannot guess a verified key. Per process, not
    shared: the point is to bound each process's lookups.
    """

    #: Addresses and verified keys remembered at most; beyond, the oldest verified keys
    #: and the addresses with full buckets are forgotten (which costs them nothing but a
    #: lookup, or gives a full bucket again).
    CAPACITY = 100_000

    def __init__(self, per_minute: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._buckets: dict[str, Bucket] = {}
        self._verified: dict[str, None] = {}

    def blocked(self, address: str, key_digest: str) -> float:
        """0.0 if `address` may have `key_digest` looked up, else the seconds until then."""
        bucket = self._buckets.get(address)
        if self.per_minute is None or bucket is None or key_digest in self._verified:
            return 0.0
        current = refill(bucket, self.per_minute, self.clock())
        return 0.0 if current.tokens >= 1.0 else (1.0 - current.tokens) * 60.0 / self.per_minute

    def verified(self, key_digest: str) -> None:
        """Remember a key that authenticated: it is never refused for its address."""
        if key_digest not in self._verified:
            self._verified[key_digest] = None
            if len(self._verified) > self.CAPACITY:
                del self._verified[next(iter(self._verified))]

    def failed(self, address: str) -> None:
        """Count one failed authentication of `address`."""
        if self.per_minute is None:
            return
        now = self.clock()
        bucket = self._buckets.get(address) or full(self.per_minute, now)
        self._buckets[address] = take(bucket, self.per_minute, now).bucket
        if len(self._buckets) > self.CAPACITY:
            per_minute = self.per_minute
            self._buckets = {
                a: b
                for a, b in self._buckets.items()
                if refill(b, per_minute, now).tokens < per_minute
            }
