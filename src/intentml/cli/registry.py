"""How a subcommand registers itself: its parser and its handler, in one place.

Each subcommand module has a `register(sub)` that adds its parsers to the main
parser's subcommands and attaches a `Command` to each with `attach`; `intentml.cli.main`
only lists the modules. Adding a command to a module is one edit there.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeAlias

from intentml.config import Settings

#: The main parser's subcommands, as a module's `register` receives them.
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: What runs a command: its exit status (None: 0).
Run = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int | None]]


def _always(args: argparse.Namespace) -> bool:
    return True


@dataclass(frozen=True)
class Command:
    """What `main` needs to know to run a parsed command."""

    run: Run
    #: Whether, given its arguments, it talks to a running platform (its services are
    #: resolved first: the configured URLs, else the embedded ones of a running `up`).
    needs_services: Callable[[argparse.Namespace], bool] = _always
    #: A long-running role: it runs on uvloop, and Ctrl-C ends it with exit status 130.
    role: bool = False


def attach(parser: argparse.ArgumentParser, command: Command) -> argparse.ArgumentParser:
    """Make `parser`'s command run `command`; returns the parser (to add arguments)."""
    parser.set_defaults(command_spec=command)
    return parser


def command_of(args: argparse.Namespace) -> Command:
    """The command a parsed command line runs."""
    command: Command = args.command_spec
    return command
