"""`intentml replay [--projection NAME ...]`: rebuild read models from offset 0, then switch.

The API keeps serving from the old tables until the switch; progress and events per
second go to stderr. See `projections.replay`.
"""

from __future__ import annotations

import argparse
import sys

from intentml.cli.registry import Command, SubParsers, attach
from intentml.config import Settings
from projections.replay import RebuildProgress, rebuild
from projections.replay_queries import PROJECTIONS

#: Print progress about every this many events.
REPORT_EVERY = 100_000


def register(sub: SubParsers) -> None:
    """Register `replay` on the main parser's subcommands."""
    replay = sub.add_parser(
        "replay",
        help="rebuild the read models from offset 0 into new tables, then switch to them",
    )
    attach(replay, Command(run))
    replay.add_argument(
        "--projection",
        action="append",
        dest="projections",
        choices=sorted(PROJECTIONS),
        metavar="NAME",
        help=f"only this one (repeat): {', '.join(PROJECTIONS)}; default all",
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Rebuild and switch; print what was done. The exit status."""
    last = [0]

    def report(p: RebuildProgress) -> None:
        if p.events - last[0] >= REPORT_EVERY:
            last[0] = p.events
            print(f"replayed {p.events:,} events ({p.rate:,.0f} events/s)", file=sys.stderr)

    result = await rebuild(settings.database_url, args.projections, report=report)
    p = result.progress
    print(
        f"rebuilt {', '.join(result.tables)} from {p.events:,} events ({p.applied:,} accepted) "
        f"in {p.seconds:.1f} s: {p.rate:,.0f} events/s; switched",
        file=sys.stderr,
    )
    for table, n in result.rows.items():
        print(f"  {table}: {n:,} rows", file=sys.stderr)
    if p.verdicts_changed:
        print(
            f"warning: {p.verdicts_changed} events were judged differently than when they "
            "were first applied (the fold changed); the rebuilt read models follow the new "
            "verdicts, the archive keeps the old ones",
            file=sys.stderr,
        )
    return 0
