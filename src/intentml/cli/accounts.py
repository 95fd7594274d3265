"""Operator commands: `intentml accounts create NAME`, `intentml keys create ...`.

They write through the log like the API does (`intentml.events.commands.submit`: the
fold's pre-check, append, wait for the fold's verdict), so an account or key made here
is as much part of the history as one made over HTTP. They need a running projector
to confirm; without one the event still stands and takes effect when it runs.
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from intentml.cli.registry import Command, SubParsers, attach
from intentml.config import Settings
from intentml.domain.keys import SCOPES, new_key
from intentml.domain.names import valid_account_name
from intentml.domain.ratelimit import valid_per_minute
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


# --- the command lines ----------------------------------------------------------

_NOT_CONFIRMED = (
    "warning: appended to the log, but the projector did not confirm it in time; "
    "it takes effect once the projector runs (is the platform up?)"
)


async def run_accounts(settings: Settings, args: argparse.Namespace) -> int:
    """`intentml accounts create NAME`."""
    try:
        applied = await create_account(settings, args.name)
    except OperatorError as exc:
        print(exc, file=sys.stderr)
        return 1
    if not applied:
        print(_NOT_CONFIRMED, file=sys.stderr)
    print(
        f"account '{args.name}' created; issue its first key with "
        f"`intentml keys create --account {args.name} --scope admin`",
        file=sys.stderr,
    )
    return 0


def _limit_arg(raw: str) -> int | None:
    """`--*-per-minute`: a positive number, or `none` for no limit."""
    if raw.strip().lower() == "none":
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if not valid_per_minute(n):
        raise argparse.ArgumentTypeError(f"{raw!r}: a positive number of requests, or 'none'")
    return n


#: `keys create`'s way of saying "this limit was not given" (not a string: argparse would
#: run a string default through `_limit_arg`).
_DEFAULT_LIMIT = -1


def _key_limits(args: argparse.Namespace) -> RateLimits | None:
    """The key's own limits from `--unlimited` / `--*-per-minute`; None: the defaults.
    A limit not given is the platform's default at the time the key is issued."""
    management, inference = args.management_per_minute, args.inference_per_minute
    if args.unlimited:
        if management != _DEFAULT_LIMIT or inference != _DEFAULT_LIMIT:
            raise ValueError("--unlimited takes no --*-per-minute limits")
        return RateLimits()
    if management == _DEFAULT_LIMIT and inference == _DEFAULT_LIMIT:
        return None
    defaults = Settings.from_env().default_rate_limits
    return RateLimits(
        management_per_minute=(
            defaults.management_per_minute if management == _DEFAULT_LIMIT else management
        ),
        inference_per_minute=(
            defaults.inference_per_minute if inference == _DEFAULT_LIMIT else inference
        ),
    )


async def run_keys(settings: Settings, args: argparse.Namespace) -> int:
    """`intentml keys create --account NAME --scope SCOPE [--name NAME]`: the secret goes to
    stdout alone (`KEY=$(intentml keys create ...)`), everything else to stderr."""
    try:
        issued = await create_key(
            settings, args.account, args.scope, args.name, rate_limits=_key_limits(args)
        )
    except (OperatorError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    if not issued.applied:
        print(_NOT_CONFIRMED, file=sys.stderr)
    print(
        f"issued {issued.key_id} ({issued.scope}) for account '{issued.account_id}'; "
        "the secret is shown only this once:",
        file=sys.stderr,
    )
    print(issued.secret, flush=True)
    return 0


def register(sub: SubParsers) -> None:
    """Register `accounts create` and `keys create` on the main parser's subcommands."""
    accounts = sub.add_parser("accounts", help="manage accounts (operators)")
    accounts_sub = accounts.add_subparsers(dest="action", required=True)
    create = attach(
        accounts_sub.add_parser("create", help="create an account"), Command(run_accounts)
    )
    create.add_argument("name", help="letters, digits, '-' and '_'; 1-64 characters")
    keys = sub.add_parser("keys", help="manage API keys (operators)")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    issue = attach(
        keys_sub.add_parser(
            "create", help="issue a key for an account and print its secret (shown only once)"
        ),
        Command(run_keys),
    )
    issue.add_argument("--account", required=True, help="an existing account")
    issue.add_argument("--scope", required=True, choices=SCOPES)
    issue.add_argument("--name", default="", help="what the key is for (shown in lists)")
    issue.add_argument(
        "--unlimited", action="store_true", help="no rate limits at all (benchmarks, batch jobs)"
    )
    for kind, what in (
        ("management", "requests other than predictions"),
        ("inference", "prediction requests"),
    ):
        issue.add_argument(
            f"--{kind}-per-minute",
            type=_limit_arg,
            default=_DEFAULT_LIMIT,
            metavar="N|none",
            help=f"the key's own limit on {what}",
        )
