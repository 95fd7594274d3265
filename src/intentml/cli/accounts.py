"""Operator commands: `intentml accounts create NAME`, `intentml keys create ...`.

They write through the log like the API does (pre-check against the read model,
append, wait for the fold's verdict), so an account or key made here is as
much part of the history as one made over HTTP. They need a running projector
to confirm; without one the event still stands and takes effect when it runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import msgspec

from intentml.config import Settings
from intentml.domain.keys import SCOPES, generate_key, hash_key, key_id_for
from intentml.domain.names import valid_account_name
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.commands import Outcome, submit
from intentml.events.envelope import make_event
from intentml.events.log import EventLog, new_producer
from intentml.events.types import AccountCreated, ApiKeyIssued, RateLimits
from intentml.infra.db import create_pool
from intentml.infra.setup import prepare
from projections import queries as q

#: Who the log records as the author of operator commands.
OPERATOR = "intentml-cli"
#: How long an operator command waits for the projector's verdict.
OPERATOR_WAIT_S = 30.0


class OperatorError(Exception):
    """A command the operator must correct (the message says how); exit status 1."""


class IssuedKey(msgspec.Struct, frozen=True):
    """A key issued by an operator; `applied` False: the projector has not confirmed yet."""

    key_id: str
    secret: str
    account_id: str
    scope: str
    applied: bool


@dataclass(frozen=True)
class _Handles:
    pool: asyncpg.Pool
    log: EventLog
    watcher: CheckpointWatcher


@contextlib.asynccontextmanager
async def _connected(settings: Settings) -> AsyncIterator[_Handles]:
    await prepare(settings)
    pool = await create_pool(settings.database_url, max_size=2)
    producer = new_producer(settings.kafka_bootstrap_servers)
    watcher = CheckpointWatcher(settings.database_url)
    try:
        await producer.start()
        await watcher.start()
        yield _Handles(pool, EventLog(producer, pool, settings.topic), watcher)
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()


def _check(outcome: Outcome) -> bool:
    """Whether the projector applied the event; an OperatorError if the fold refused it."""
    if outcome.applied and not outcome.accepted:
        raise OperatorError(f"refused: {outcome.reason}")
    return outcome.applied


async def create_account(settings: Settings, name: str, wait_s: float = OPERATOR_WAIT_S) -> bool:
    """Append `AccountCreated` for `name`; True once applied, False if still in flight."""
    if not valid_account_name(name):
        raise OperatorError(
            f"'{name}' is not a valid account name: 1-64 letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    async with _connected(settings) as h:
        if await h.pool.fetchrow(q.ACCOUNT, name) is not None:
            raise OperatorError(f"the account '{name}' already exists")
        event = make_event(AccountCreated(created_by=OPERATOR), account_id=name, actor=OPERATOR)
        return _check(await submit(h.log, h.watcher, h.pool, event, wait_s))


async def create_key(
    settings: Settings,
    account: str,
    scope: str,
    name: str = "",
    wait_s: float = OPERATOR_WAIT_S,
    rate_limits: RateLimits | None = None,
) -> IssuedKey:
    """Issue a key of `scope` for the existing account `account`, with its own
    `rate_limits` (None: the platform's defaults); the secret is in the result and
    nowhere else."""
    if scope not in SCOPES:
        raise OperatorError(f"unknown scope '{scope}'; one of: {', '.join(SCOPES)}")
    if rate_limits is not None and any(
        n is not None and n < 1
        for n in (rate_limits.management_per_minute, rate_limits.inference_per_minute)
    ):
        raise OperatorError("a rate limit is at least 1 request per minute, or none")
    async with _connected(settings) as h:
        if not valid_account_name(account) or await h.pool.fetchrow(q.ACCOUNT, account) is None:
            raise OperatorError(
                f"no account '{account}'; create it with `intentml accounts create {account}`"
            )
        secret = generate_key()
        digest = hash_key(secret)
        key_id = key_id_for(digest)
        event = make_event(
            ApiKeyIssued(
                key_id=key_id,
                key_hash=digest,
                scope=scope,
                name=name or f"{scope} key",
                issued_by=OPERATOR,
                rate_limits=rate_limits,
            ),
            account_id=account,
            actor=OPERATOR,
        )
        applied = _check(await submit(h.log, h.watcher, h.pool, event, wait_s))
        return IssuedKey(key_id, secret, account, scope, applied)
