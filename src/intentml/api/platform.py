"""What the API processes hold for their lifetime: pool, log, checkpoints, models."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from litestar.di import NamedDependency

from intentml.api.auth import Principal
from intentml.api.errors import ApiError
from intentml.api.idempotency import COMMAND_HOOKS
from intentml.api.liveness import Liveness
from intentml.api.ratelimit import FailedAuthLimiter, RateLimiter
from intentml.api.serving_cache import FreshCache, ModelCache
from intentml.api.storable import refuse
from intentml.config import Settings
from intentml.domain.fold import CONFLICT, INVALID, RejectionKind, Ruling, StreamState
from intentml.domain.text import unstorable_in
from intentml.events.commands import Outcome, ReadModelReset, Refused, stream_state, submit
from intentml.events.envelope import Envelope
from intentml.infra.blobs import open_blob_store
from intentml.infra.connect import Connections, connected
from intentml.infra.llm import Interpreter

__all__ = ["Outcome", "Platform", "PlatformDep", "open_platform"]


#: The API's answer to a command the fold refused at the pre-check, by the kind of rule
#: it broke (`intentml.domain.fold.RejectionKind`): the one place the kinds become statuses.
REFUSAL_STATUS: dict[RejectionKind, int] = {CONFLICT: 409, INVALID: 422}


def refusal(reason: str, kind: RejectionKind) -> ApiError:
    """The API's answer to a command the fold refused at a pre-check."""
    return ApiError(REFUSAL_STATUS[kind], reason)


def refuse_if_rejected(verdict: Ruling | None) -> None:
    """Raise the API's answer if a pre-check's `verdict` is a rejection."""
    if verdict is not None and not verdict.accepted:
        raise refusal(verdict.reason or "refused", verdict.kind or CONFLICT)


class Platform:
    """The API's handles on the outside world, shared by all requests."""

    def __init__(self, conns: Connections) -> None:
        settings = conns.settings
        self.settings = settings
        self.pool = conns.pool
        #: What `/health` reports (its own connections, see `Liveness`).
        self.liveness = Liveness(settings.database_url, conns.producer)
        self.log = conns.log
        self.watcher = conns.watcher
        #: Uploads and artifacts: the data dir, or the shared S3 store.
        self.blobs = open_blob_store(settings)
        self.models = ModelCache(self.blobs)
        stale_s = settings.stale_if_error_s
        self.lookups: FreshCache[Any] = FreshCache(self.watcher, stale_s=stale_s)
        #: Verified keys (and unknown ones, as None), dropped with every applied batch, so
        #: a revocation takes effect here as soon as this process hears of its checkpoint;
        #: served as last seen while the database is down (stale-if-error, see FreshCache).
        self.keys: FreshCache[Principal] = FreshCache(self.watcher, stale_s=stale_s)
        #: Per-key rate limits, synced with the other API processes through PostgreSQL.
        self.limiter = RateLimiter()
        #: Failed authentications per client address (see `FailedAuthLimiter`).
        self.failed_auth = FailedAuthLimiter(settings.rate_limit_failed_auth)
        #: The optional LLM interpreter of intents (None: `INTENTML_LLM_*` unset).
        self.interpreter: Interpreter | None = settings.llm_interpreter()

    async def submit(self, envelope: Envelope) -> Outcome:
        """Pre-check a command with the fold, append its event and wait (bounded) for the
        fold's verdict on it (`intentml.events.commands.submit`).

        A command the fold refuses at the pre-check is answered at once with the fold's
        reason: 409 for a conflict with the current state, 422 for an invalid event.
        An event holding text PostgreSQL cannot store is refused before that with the
        fold's own rule (400 naming the field), whatever route built it: it could never
        be projected. (`LogUnavailable` becomes a 503 with Retry-After in `errors`.)
        A request with an `Idempotency-Key` checks its claim on the key just before the
        append and learns of the event as soon as it is appended (`COMMAND_HOOKS`), so
        neither a retry nor a crash can get it appended twice."""
        field = unstorable_in(envelope)
        if field is not None:
            raise refuse(field.removeprefix("data."))
        hooks = COMMAND_HOOKS.get()
        try:
            return await submit(
                self.log,
                self.watcher,
                self.pool,
                envelope,
                self.settings.command_wait_s,
                on_appended=None if hooks is None else hooks.appended,
                before_append=None if hooks is None else hooks.before_append,
            )
        except Refused as exc:
            raise refusal(exc.reason, exc.kind) from exc
        except ReadModelReset as exc:
            raise ApiError(503, "the read model is being rebuilt; retry in a moment") from exc

    async def stream_state(self, account_id: str, model_name: str = "") -> StreamState:
        """The fold state of a model's stream (of the account's own with no model name), as
        the projector last stored it: for a pre-check a command needs before its event can
        be built (`intentml.domain.fold.name_in_use`)."""
        return await stream_state(self.pool, f"{account_id}/{model_name}")

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """One row from the read models."""
        return await self.pool.fetchrow(query, *args)


#: How handlers declare that they need the platform (injected by the app factory).
PlatformDep = NamedDependency[Platform]


@contextlib.asynccontextmanager
async def open_platform(settings: Settings) -> AsyncIterator[Platform]:
    """Connect to PostgreSQL and Kafka for the lifetime of the app."""
    async with connected(settings, "api") as conns:
        platform = Platform(conns)
        syncing = asyncio.create_task(platform.limiter.run(conns.pool, settings.rate_limit_sync_s))
        stopping = asyncio.Event()
        # Events a crashed appender left pending reach the log even if nobody appends
        # to their streams again (`EventLog.produce_abandoned`).
        sweeping = asyncio.create_task(platform.log.sweep(stopping))
        try:
            yield platform
        finally:
            stopping.set()
            syncing.cancel()
            await asyncio.gather(syncing, sweeping, return_exceptions=True)
            # What this process served since the last sync still counts for the others.
            with contextlib.suppress(Exception):
                await platform.limiter.sync(conns.pool)
