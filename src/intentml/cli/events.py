"""`intentml audit MODEL` and `intentml events export | verify`: the log for auditors.

They read the events archive in PostgreSQL through a server-side cursor (constant
memory for any log size) or, for `verify --source log`, the topic itself; the
chain checks are `intentml.events.chain`, the wording `intentml.domain.audit`.
Data goes to stdout, messages to stderr. Exit status: 0 intact / found, 1 a broken
chain or nothing found, 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import asyncpg
import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from intentml.cli.registry import Command, SubParsers, attach
from intentml.config import Settings
from intentml.domain.audit import archived_entry, timeline_line
from intentml.events.chain import (
    ChainRecord,
    ChainVerifier,
    Problem,
    Report,
    stream_of,
    verify_chains,
)
from intentml.events.export import BadExportLine, export_line, read_export
from projections import archive_queries as aq
from projections import quarantine as qq
from projections.projector import PROJECTION

#: Rows a cursor fetches per round trip: large enough to stream at full speed.
PREFETCH = 5000
#: The account a model name means when `--account` is not given.
DEFAULT_ACCOUNT = "default"


def _moment(raw: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC."""
    try:
        at = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{raw!r}: an ISO 8601 date or time, e.g. 2026-11-23 or 2026-11-23T10:00:00Z"
        ) from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def register(sub: SubParsers) -> None:
    """Register `audit` and `events` on the main parser's subcommands."""
    audit = sub.add_parser(
        "audit", help="a model's timeline: every event, who did it, rejected commands and why"
    )
    attach(audit, Command(run))
    audit.add_argument("model", help="the model name")
    audit.add_argument("--account", default=DEFAULT_ACCOUNT, help="its account (default)")
    events = sub.add_parser("events", help="export and verify the event log (auditors)")
    attach(events, Command(run, needs_services=needs_services))
    events_sub = events.add_subparsers(dest="action", required=True)
    export = events_sub.add_parser(
        "export", help="write events as JSON lines to stdout (envelope, partition, offset, hash)"
    )
    export.add_argument("--account", help="only this account's events")
    export.add_argument("--model", help="only events of this model name")
    export.add_argument("--since", type=_moment, help="only events at or after this time")
    export.add_argument("--until", type=_moment, help="only events before this time")
    export.add_argument(
        "--type", action="append", dest="types", metavar="TYPE", help="only this type (repeat)"
    )
    verify = events_sub.add_parser(
        "verify", help="check every per-model hash chain of the log or of an export file"
    )
    verify.add_argument("--account", help="only this account's streams")
    verify.add_argument("--model", help="only the streams of this model name")
    verify.add_argument("--file", type=Path, help="an export file instead of the platform's log")
    verify.add_argument(
        "--source",
        choices=("archive", "log"),
        default="archive",
        help="without --file: the events archive in PostgreSQL (default), or the topic itself",
    )
    events_sub.add_parser(
        "quarantine",
        help="records the projector could not decode (JSON lines, bytes in base64) and "
        "partitions halted at an event newer than this intentml",
    )
    contract = events_sub.add_parser(
        "contract", help="print the AsyncAPI document of the events topic (or --write DIR)"
    )
    contract.add_argument(
        "--write", type=Path, metavar="DIR", help="write asyncapi.json and events.schema.json"
    )
    verify.add_argument(
        "--partial",
        action="store_true",
        help="streams may start mid-chain (an export cut with --since)",
    )


def needs_services(args: argparse.Namespace) -> bool:
    """Whether the command talks to the platform (verifying a file does not)."""
    if args.command != "events":
        return True
    return args.action in ("export", "quarantine") or (args.action == "verify" and not args.file)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run `audit` or `events ...`; the exit status."""
    if args.command == "audit":
        return await audit(settings, args.account, args.model)
    if args.action == "contract":
        return contract(args.write)
    if args.action == "quarantine":
        return await quarantine(settings, sys.stdout.buffer)
    if args.action == "export":
        await export(
            settings,
            sys.stdout.buffer,
            account=args.account,
            model=args.model,
            since=args.since,
            until=args.until,
            types=args.types,
        )
        return 0
    if args.file:
        report = verify_file(
            args.file, account=args.account, model=args.model, partial=args.partial
        )
    elif args.source == "log":
        report = await verify_log(settings, account=args.account, model=args.model)
    else:
        report = await verify_archive(settings, account=args.account, model=args.model)
    return print_report(report)


async def _archive_rows(
    settings: Settings, query: str, *params: object
) -> AsyncIterator[asyncpg.Record]:
    """The rows of an archive query through a server-side cursor."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction(readonly=True):
            async for row in conn.cursor(query, *params, prefetch=PREFETCH):
                yield row
    finally:
        await conn.close()


class QuarantinedRecord(msgspec.Struct, frozen=True):
    """One line of `intentml events quarantine`: the record's position, its bytes verbatim
    (base64), and why it could not be decoded."""

    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes | None
    error: str
    quarantined_at: datetime


async def quarantine(settings: Settings, out: BinaryIO) -> int:
    """Print the quarantined records as JSON lines, and the halted partitions on stderr;
    0 when neither exists, 1 otherwise (an operator has something to look at)."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        records = await conn.fetch(qq.QUARANTINED, PROJECTION)
        halts = await conn.fetch(qq.HALTS, PROJECTION)
    finally:
        await conn.close()
    encoder = msgspec.json.Encoder()
    for r in records:
        line = QuarantinedRecord(
            partition=r["partition"],
            offset=r["offset"],
            key=r["key"],
            headers=list(zip(r["header_names"], r["header_values"], strict=True)),
            value=r["value"],
            error=r["error"],
            quarantined_at=r["quarantined_at"],
        )
        out.write(encoder.encode(line) + b"\n")
    out.flush()
    for h in halts:
        print(
            f"partition {h['partition']} halted at offset {h['offset']} since "
            f"{h['since'].isoformat()}: {h['reason']}",
            file=sys.stderr,
        )
    print(
        f"{len(records)} quarantined record(s), {len(halts)} halted partition(s)", file=sys.stderr
    )
    return 1 if records or halts else 0


async def audit(settings: Settings, account: str, model: str, out: BinaryIO | None = None) -> int:
    """Print the model's timeline, one line per event; 1 if it has none."""
    stream = out or sys.stdout.buffer
    n = 0
    async for r in _archive_rows(settings, aq.ALL_STREAM_EVENTS, account, model):
        stream.write(timeline_line(archived_entry(r)).encode() + b"\n")
        n += 1
    stream.flush()
    if n == 0:
        print(f"no events of model '{model}' in account '{account}'", file=sys.stderr)
        return 1
    return 0


async def export(
    settings: Settings,
    out: BinaryIO,
    *,
    account: str | None = None,
    model: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    types: list[str] | None = None,
) -> int:
    """Write the archive's events, filtered, as export lines to `out`; how many."""
    n = 0
    rows = _archive_rows(settings, aq.EXPORT_EVENTS, account, model, since, until, types)
    async for r in rows:
        out.write(
            export_line(
                partition=r["partition"],
                offset=r["offset"],
                hash=r["hash"],
                accepted=r["accepted"],
                reason=r["reason"],
                value=r["value"],
            )
        )
        n += 1
    out.flush()
    if since is not None or types:
        # Say it where the operator sees it, not in the data.
        print(
            f"exported {n} events; --since and --type cut the hash chains: verify this "
            "file with --partial (--since), or its events' own hashes only (--type)",
            file=sys.stderr,
        )
    return n


def _in_scope(rec: ChainRecord, account: str | None, model: str | None) -> bool:
    """Whether a record belongs to the streams asked for, read from its envelope."""
    if account is None and model is None:
        return True
    try:
        acc, _, name = stream_of(rec.value).partition("/")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return True  # not an event: let the verifier report it as altered
    return (account is None or acc == account) and (model is None or name == model)


def verify_file(
    path: Path, *, account: str | None = None, model: str | None = None, partial: bool = False
) -> Report:
    """Verify the chains of an export file (a malformed line counts as altered)."""
    with path.open("rb") as f:
        try:
            records = (r for r in read_export(f) if _in_scope(r, account, model))
            return verify_chains(records, from_genesis=not partial)
        except BadExportLine as exc:
            return Report(0, 0, Problem("altered", "?", "?", None, None, f"{path}: {exc}"))


async def verify_archive(
    settings: Settings, *, account: str | None = None, model: str | None = None
) -> Report:
    """Verify the chains of the events archive in PostgreSQL."""
    verifier = ChainVerifier()
    async for r in _archive_rows(settings, aq.EXPORT_EVENTS, account, model, None, None, None):
        report = verifier.add(ChainRecord(r["value"], r["partition"], r["offset"], r["hash"]))
        if report is not None:
            return report
    return verifier.finish()


async def verify_log(
    settings: Settings, *, account: str | None = None, model: str | None = None
) -> Report:
    """Verify the chains of the topic itself, from offset 0 to its end at the start.

    The end is found by reading, not from the reported end offsets, which lag what
    the embedded broker's S3 log serves: each partition is read until a fetch brings
    nothing more (1 s) or a record appended after the start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    verifier = ChainVerifier()
    started_ms = int(time.time() * 1000)
    try:
        partitions = sorted(consumer.partitions_for_topic(settings.topic) or set())
        reading = {TopicPartition(settings.topic, p) for p in partitions}
        consumer.assign(list(reading))
        await consumer.seek_to_beginning(*reading)
        while reading and (batch := await consumer.getmany(*reading, timeout_ms=1000)):
            for tp, recs in batch.items():
                for rec in recs:
                    if rec.timestamp > started_ms:
                        reading.discard(tp)
                        break
                    # Kafka keys are `account/model`: filter without decoding.
                    acc, _, name = (rec.key or b"").decode().partition("/")
                    if (account is None or acc == account) and (model is None or name == model):
                        report = verifier.add(
                            ChainRecord(rec.value or b"", tp.partition, rec.offset)
                        )
                        if report is not None:
                            return report
        return verifier.finish()
    finally:
        await consumer.stop()


def contract(directory: Path | None) -> int:
    """Print the AsyncAPI document, or write every contract document to `directory`."""
    from intentml.events.contract import asyncapi, render, write_documents

    if directory is None:
        sys.stdout.write(render(asyncapi()))
        return 0
    for path in write_documents(directory):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def print_report(report: Report) -> int:
    """Say what verification found on stderr; the exit status (0 intact, 1 broken)."""
    if report.problem is None:
        copies = f" ({report.copies} re-sent copies, ignored)" if report.copies else ""
        print(
            f"intact: {report.events} events in {report.streams} streams{copies}", file=sys.stderr
        )
        return 0
    p = report.problem
    print(f"{p.kind.upper()}: {p.message}", file=sys.stderr)
    return 1
