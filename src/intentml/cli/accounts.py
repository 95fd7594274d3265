"""Operator commands: `intentml accounts create NAME`, `intentml keys create ...`.

They write through the log like the API does (`intentml.events.commands.submit`: the
fold's pre-check, append, wait for the fold's verdict), so an account or key made here
is as much part of the history as one made over HTTP. They need a running projector
to confirm; without one the event still stands and takes effect when it runs.
"""

from __future__ import annotations

import msgspec

from intentml.config import Settings
from intentml.domain.keys import new_key
from intentml.domain.names import valid_account_name
from intentml.events.commands import Refused, submit
from intentml.events.envelope import Envelope, make_event
from intentml.events.types import AccountCreated, RateLimits
from intentml.infra.connect import Connections, connected
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


async def _submit(conns: Connections, event: Envelope, wait_s: float) -> bool:
    """Submit an operator command: True once applied, False if still in flight; an
    OperatorError with the fold's reason if it refused the command or rejected it."""
    account = f"(account '{event.account_id}')"
    try:
        outcome = await submit(conns.log, conns.watcher, conns.pool, event, wait_s)
    except Refused as exc:
        raise OperatorError(f"refused: {exc.reason} {account}") from exc
    if outcome.applied and not outcome.accepted:
        raise OperatorError(f"refused: {outcome.reason} {account}")
    return outcome.applied


async def create_account(settings: Settings, name: str, wait_s: float = OPERATOR_WAIT_S) -> bool:
    """Append `AccountCreated` for `name`; True once applied, False if still in flight."""
    if not valid_account_name(name):
        raise OperatorError(
            f"'{name}' is not a valid account name: 1-64 letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    await prepare(settings)
    async with connected(settings, "operator") as conns:
        event = make_event(AccountCreated(created_by=OPERATOR), account_id=name, actor=OPERATOR)
        return await _submit(conns, event, wait_s)


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
    nowhere else. The scope and the limits are the fold's to judge (its pre-check)."""
    await prepare(settings)
    async with connected(settings, "operator") as conns:
        # Not a rule of the fold (the first bootstrap keys predate accounts): the
        # operator's check, which cannot be raced since accounts are never deleted.
        if not valid_account_name(account) or await conns.pool.fetchrow(q.ACCOUNT, account) is None:
            raise OperatorError(
                f"no account '{account}'; create it with `intentml accounts create {account}`"
            )
        key = new_key(scope, name or f"{scope} key", OPERATOR, rate_limits)
        event = make_event(key.issued, account_id=account, actor=OPERATOR)
        applied = await _submit(conns, event, wait_s)
        return IssuedKey(key.key_id, key.secret, account, scope, applied)
