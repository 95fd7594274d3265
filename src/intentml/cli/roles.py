"""`intentml up | api | projector | trainer | deployer`: the platform's long-running roles.

`up` is what `make run` calls: it starts the embedded services when no URLs are
configured, prepares the log and the database, and supervises one process per role
(`intentml.cli.supervisor`). Each role can also run on its own against external
services, or against a running `up` found through the same `INTENTML_DATA_DIR`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from intentml.cli.registry import Command, SubParsers, attach
from intentml.config import Settings
from intentml.infra.connect import connected, open_pool
from intentml.infra.setup import prepare

if TYPE_CHECKING:
    from consumers.worker import Handler


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def run_projector(settings: Settings, args: argparse.Namespace | None = None) -> None:
    """Fold the log into the read models until stopped."""
    from projections.projector import Projector

    await prepare(settings)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    pool = await open_pool(settings, "projector")
    try:
        await Projector(pool, settings.kafka_bootstrap_servers, settings.topic).run(stop)
    finally:
        await pool.close()


async def _run_worker(
    settings: Settings, name: str, group: str, make_handler: Callable[[], Handler]
) -> None:
    from consumers.worker import Worker, WorkerContext

    await prepare(settings)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with connected(settings, "worker") as conns:
        ctx = WorkerContext(name, conns.pool, conns.log, conns.watcher, stop)
        worker = Worker(
            ctx, make_handler(), settings.kafka_bootstrap_servers, settings.topic, group
        )
        await worker.run()


async def run_trainer(settings: Settings, args: argparse.Namespace | None = None) -> None:
    """Build requested versions until stopped."""
    from consumers.trainer import TrainerHandler

    await _run_worker(settings, "trainer", "intentml-trainer", lambda: TrainerHandler(settings))


async def run_deployer(settings: Settings, args: argparse.Namespace | None = None) -> None:
    """Check trained versions through the serving path until stopped."""
    from consumers.deployer import DeployerHandler

    await _run_worker(
        settings, "deployer", "intentml-deployer", lambda: DeployerHandler(settings.data_dir)
    )


async def run_api(settings: Settings, args: argparse.Namespace | None = None) -> None:
    """Register the bootstrap admin key, then serve the REST API until stopped."""
    import uvicorn

    from intentml.api.app import create_app
    from intentml.api.server import server_options
    from intentml.cli.bootstrap import ensure_admin_key

    await prepare(settings)
    async with connected(settings, "operator") as conns:
        await ensure_admin_key(settings, conns.pool, conns.log, conns.watcher)
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


async def run_up(settings: Settings, args: argparse.Namespace | None = None) -> int:
    """Start everything in the foreground and keep it running (`intentml.cli.supervisor`)."""
    from intentml.cli import supervisor

    return await supervisor.run(settings)


def _no_services(args: argparse.Namespace) -> bool:
    return False  # `up` starts them


def register(sub: SubParsers) -> None:
    """Register the roles on the main parser's subcommands."""
    up = sub.add_parser(
        "up", help="start the whole platform in the foreground (what `make run` runs)"
    )
    attach(up, Command(run_up, needs_services=_no_services, role=True))
    for name, run, what in (
        ("api", run_api, "serve the REST API"),
        ("projector", run_projector, "fold the log into the PostgreSQL read models"),
        ("trainer", run_trainer, "train requested model versions"),
        ("deployer", run_deployer, "check trained versions through the serving path"),
    ):
        attach(sub.add_parser(name, help=what), Command(run, role=True))
