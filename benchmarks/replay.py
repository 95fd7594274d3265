"""Rebuild speed: `intentml replay` of 1,000,000 realistic events, next to a raw insert.

Generates a model lifecycle mix (accounts; keys issued, limited and revoked; uploads;
creates, builds started, progressing, trained and ready or failed; retrains, deploys that
replace each other or fail to start, updates and renames, undeploys, deletes and names
taken again, and duplicate creates the fold rejects) with valid hash chains and the
fold's verdicts, writes it into the events archive of a fresh database with COPY (that
insert is the baseline: the rate this machine takes the same rows), then times, in
process: the rebuild of every projection (`projections.replay.rebuild`),
`intentml events export` to /dev/null and `intentml events verify` of the archive.
Last, with every table emptied, the live projector's `apply_batch` applies the first
`--live-events` events, for its rate next to the rebuild's.

    .venv/bin/python benchmarks/replay.py [--events 1000000]

Uses `DATABASE_URL` (a server; a new database is created and dropped) or an embedded
PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from intentml.domain.fold import StreamState, judge
from intentml.domain.keys import hash_key, key_id_for
from intentml.domain.training_options import TrainingOptions
from intentml.domain.training_report import TrainingResult
from intentml.events.envelope import Envelope, encode, event_hash, make_event
from intentml.events.types import (
    AccountCreated,
    ApiKeyIssued,
    ApiKeyLimitsChanged,
    ApiKeyRevoked,
    BuildCancelled,
    BuildCancelRequested,
    BuildFailed,
    BuildProgressed,
    BuildStarted,
    Column,
    DatasetUploaded,
    DeploymentActivated,
    DeploymentFailed,
    DeploymentRequested,
    DeploymentStopped,
    EventData,
    ModelCreated,
    ModelDeleted,
    ModelUpdated,
    RateLimits,
    TrainingRequest,
    UndeployRequested,
    VersionReady,
    VersionRequested,
    VersionTrained,
)
from projections import queries as q
from projections.projector import archive_row
from projections.replay import CHUNK

PARTITIONS = 4
ACCOUNTS = 20
BASE_TIME = datetime(2026, 11, 1, tzinfo=UTC)


def _training(i: int, version: int, upload: str, model_id: str = "") -> TrainingRequest:
    suffix = f"_{model_id}" if model_id else ""
    return TrainingRequest(
        job_id=f"job_{i}_{version}{suffix}",
        version=version,
        version_id=f"ver_{i}_{version}{suffix}",
        upload_id=upload,
        dataset_format="csv",
        intent="Predict customer churn based on usage patterns",
        target="churned",
        target_reason="the intent names the column 'churned'",
        options=TrainingOptions(metric="roc_auc"),
    )


def _build(
    i: int, version: int, rng: random.Random, fail: bool, cancel_of: str = ""
) -> list[EventData]:
    """A build's events; `cancel_of` (a model id): a user cancels it before it ends."""
    job = f"job_{i}_{version}"
    events: list[EventData] = [BuildStarted(job_id=job, version=version, worker="trainer-1")]
    for p in (10, 30, 50, 70, 90):
        lines = [f"candidate {p // 10}: roc_auc = {0.8 + rng.random() / 10:.4f}"]
        events.append(BuildProgressed(job_id=job, version=version, progress=p, lines=lines))
    if cancel_of:
        events += [
            BuildCancelRequested(model_id=cancel_of, job_id=job, version=version, reason="oops"),
            BuildCancelled(job_id=job, version=version, reason="cancelled by key_x: oops"),
        ]
        return events
    if fail:
        events.append(
            BuildFailed(job_id=job, version=version, code="training_failed", message="no signal")
        )
        return events
    events.append(
        VersionTrained(
            job_id=job,
            version=version,
            artifact=f"artifacts/{job}.txt",
            result=TrainingResult(
                task="binary",
                metric_name="roc_auc",
                metric_value=0.8 + rng.random() / 10,
                metrics={"roc_auc": 0.85, "accuracy": 0.8},
                feature_importance={"usage_minutes": 0.7, "plan_type": 0.3},
                features=["usage_minutes", "plan_type"],
                rows_used=600,
                training_seconds=0.4,
                input_schema={"usage_minutes": "number", "plan_type": "category"},
                output_schema={"churned_probability": "number", "churned": "integer"},
            ),
        )
    )
    events.append(VersionReady(job_id=job, version=version, sample_output={"churned": 1}))
    return events


def model_lifecycle(i: int, rng: random.Random) -> tuple[str, list[EventData], EventData]:
    """One model's events (and the upload its account stream records first)."""
    upload = f"upl_{i}"
    uploaded = DatasetUploaded(
        upload_id=upload,
        filename="churn.csv",
        format="csv",
        rows=600,
        columns=[Column("usage_minutes", "number"), Column("churned", "integer")],
        size_bytes=20_000,
        sha256=f"{i:064x}",
    )
    model_id = f"mdl_{i}"
    events: list[EventData] = [
        ModelCreated(
            model_id=model_id,
            name=f"churn {i}",
            intent="Predict churn",
            training=_training(i, 1, upload),
        )
    ]
    events += _build(i, 1, rng, fail=False)
    events += [
        DeploymentRequested(model_id=model_id, deployment_id=f"dep_{i}_1", version=1),
        DeploymentActivated(deployment_id=f"dep_{i}_1", version=1),
    ]
    if rng.random() < 0.1:  # a racing duplicate create: the log rejects it
        events.append(
            ModelCreated(
                model_id=f"mdl_{i}_dup", name="dup", intent="x", training=_training(i, 1, upload)
            )
        )
    events.append(VersionRequested(model_id=model_id, training=_training(i, 2, upload)))
    ending = rng.random()
    failed = ending < 0.2  # failed or (the first quarter of those) cancelled: not deployed
    events += _build(i, 2, rng, fail=failed, cancel_of=model_id if ending < 0.05 else "")
    if not failed:
        events += [
            DeploymentRequested(model_id=model_id, deployment_id=f"dep_{i}_2", version=2),
            DeploymentActivated(deployment_id=f"dep_{i}_2", version=2),
        ]
    if rng.random() < 0.05:  # a deployment that could not start
        events += [
            DeploymentRequested(
                model_id=model_id, deployment_id=f"dep_{i}_f", version=1, environment="staging"
            ),
            DeploymentFailed(deployment_id=f"dep_{i}_f", message="no capacity"),
        ]
    if rng.random() < 0.2:
        events.append(
            ModelUpdated(model_id=model_id, description="quarterly churn", tags=["churn"])
        )
    if rng.random() < 0.05:  # a rename that leaves the rest as it is
        events.append(ModelUpdated(model_id=model_id, name=f"churn {i} (renamed)"))
    roll = rng.random()
    if roll < 0.05:
        events.append(ModelDeleted(model_id=model_id))
        if rng.random() < 0.5:  # the name is taken again by a new model
            again = f"mdl_{i}_again"
            events.append(
                ModelCreated(
                    model_id=again,
                    name=f"churn {i}",
                    intent="Predict churn",
                    training=_training(i, 1, upload, again),
                )
            )
    elif roll < 0.15:
        last = f"dep_{i}_1" if failed else f"dep_{i}_2"
        events += [UndeployRequested(deployment_id=last), DeploymentStopped(deployment_id=last)]
    return f"model{i}", events, uploaded


def lifecycle_events(
    n_events: int, seed: int = 0, accounts: int = ACCOUNTS, first_model: int = 0
) -> Iterator[Envelope]:
    """About `n_events` envelopes: accounts and keys, then models' lifecycles interleaved
    a few hundred at a time, as concurrent users would produce them."""
    rng = random.Random(seed)
    at = [BASE_TIME]

    def stamp(env: Envelope) -> Envelope:
        at[0] += timedelta(milliseconds=1)
        return msgspec.structs.replace(env, occurred_at=at[0])

    produced = 0
    for a in range(accounts):
        account = f"acct{a}"
        yield stamp(
            make_event(
                AccountCreated(created_by="intentml-cli"), account_id=account, actor="intentml-cli"
            )
        )
        admin_hash, other_hash = hash_key(f"iml_sk_bench_{a}"), hash_key(f"iml_sk_other_{a}")
        admin, other = key_id_for(admin_hash), key_id_for(other_hash)
        limits = RateLimits(management_per_minute=60, inference_per_minute=None)
        for data in (
            ApiKeyIssued(
                key_id=admin, key_hash=admin_hash, scope="admin", issued_by="intentml-cli"
            ),
            ApiKeyIssued(key_id=other, key_hash=other_hash, scope="read_only", issued_by=admin),
            ApiKeyLimitsChanged(key_id=other, rate_limits=limits, changed_by=admin),
            ApiKeyRevoked(key_id=other, revoked_by=admin),
        ):
            yield stamp(make_event(data, account_id=account, actor=admin))
        produced += 5
    i = first_model
    while produced < n_events:
        group: list[list[Envelope]] = []
        for _ in range(min(300, max(1, (n_events - produced) // 20))):
            name, events, uploaded = model_lifecycle(i, rng)
            account = f"acct{i % accounts}"
            actor = f"key_{i % accounts:016x}"
            yield stamp(make_event(uploaded, account_id=account, actor=actor))
            produced += 1
            group.append(
                [make_event(d, account_id=account, model_name=name, actor=actor) for d in events]
            )
            i += 1
        # Interleave the group's streams, each in its own order.
        cursors = [0] * len(group)
        live = list(range(len(group)))
        while live and produced < n_events:
            k = rng.randrange(len(live))
            s = live[k]
            yield stamp(group[s][cursors[s]])
            produced += 1
            cursors[s] += 1
            if cursors[s] == len(group[s]):
                live[k] = live[-1]
                live.pop()


def archive_rows(envelopes: Iterator[Envelope]) -> Iterator[tuple[Any, ...]]:
    """The envelopes as the projector archives them: chained, positioned, judged."""
    heads: dict[str, str] = {}
    states: dict[str, StreamState] = {}
    offsets = [0] * PARTITIONS
    for env in envelopes:
        stream = env.stream
        env = msgspec.structs.replace(env, prev_hash=heads.get(stream, ""))
        value = encode(env)
        heads[stream] = event_hash(value)
        verdict = judge(states.get(stream, StreamState()), env, heads[stream])
        states[stream] = verdict.state
        partition = zlib.crc32(stream.encode()) % PARTITIONS
        offset = offsets[partition]
        offsets[partition] += 1
        yield archive_row(partition, offset, value, env, verdict)


async def fill_archive(url: str, rows: list[tuple[Any, ...]]) -> float:
    """COPY the rows into the archive and set the projector's offsets past them; seconds
    the COPY took (the raw batched insert of the same rows)."""
    conn = await asyncpg.connect(url)
    try:
        start = time.perf_counter()
        await conn.copy_records_to_table("events", records=rows, columns=q.ARCHIVE_COLUMNS)
        took = time.perf_counter() - start
        await conn.execute(
            "INSERT INTO projection_offsets (projection, partition, next_offset) "
            "SELECT 'main', partition, max(\"offset\") + 1 FROM events GROUP BY partition"
        )
        await conn.execute("ANALYZE events")
        return took
    finally:
        await conn.close()


async def live_projection(url: str, rows: list[tuple[Any, ...]]) -> float:
    """Seconds the live projector's `apply_batch` takes for `rows` into emptied tables, in
    poll batches of 5,000 as the broker would hand them over."""
    from aiokafka import ConsumerRecord, TopicPartition

    from intentml.infra.db import create_pool
    from projections.projector import apply_batch
    from projections.replay_queries import TABLES

    pool = await create_pool(url, max_size=2)
    try:
        await pool.execute(f"TRUNCATE events, projection_offsets, {', '.join(TABLES)}")
        start = time.perf_counter()
        for i in range(0, len(rows), 5000):
            batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
            for r in rows[i : i + 5000]:
                tp = TopicPartition("intentml.events", r[0])
                record = ConsumerRecord(
                    tp.topic, r[0], r[1], 0, 0, None, r[12], None, 0, len(r[12]), []
                )
                batch.setdefault(tp, []).append(record)
            await apply_batch(pool, batch)
        return time.perf_counter() - start
    finally:
        await pool.close()


async def bench(url: str, n_events: int, chunk: int, live_events: int) -> None:
    from intentml.cli import events as event_commands
    from intentml.config import Settings
    from intentml.infra.db import create_pool, migrate
    from projections.replay import RebuildProgress, rebuild

    pool = await create_pool(url, max_size=2)
    try:
        await migrate(pool)
    finally:
        await pool.close()
    start = time.perf_counter()
    rows = list(archive_rows(lifecycle_events(n_events)))
    print(f"generated {len(rows):,} events in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    accepted = sum(1 for r in rows if r[10])
    live = rows[:live_events]
    raw_s = await fill_archive(url, rows)
    del rows

    printed = [0]

    def report(p: RebuildProgress) -> None:
        if p.events - printed[0] >= 200_000:
            printed[0] = p.events
            print(f"  replayed {p.events:,} events ({p.rate:,.0f} events/s)", file=sys.stderr)

    result = await rebuild(url, report=report, chunk=chunk)
    p = result.progress
    settings = Settings(database_url=url, kafka_bootstrap_servers="", data_dir=Path("/tmp"))
    start = time.perf_counter()
    with Path(os.devnull).open("wb") as devnull:  # noqa: ASYNC230 - /dev/null never blocks
        exported = await event_commands.export(settings, devnull)
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    verified = await event_commands.verify_archive(settings)
    verify_s = time.perf_counter() - start
    assert verified.problem is None, verified.problem
    live_s = await live_projection(url, live)
    n = p.events
    raw_rate = n / raw_s
    print()
    print(
        f"events: {n:,} ({accepted:,} accepted), {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print("| | seconds | events/s | goal |")
    print("| --- | --- | --- | --- |")
    print(f"| raw COPY of the archive rows | {raw_s:.1f} | {raw_rate:,.0f} | (the limit) |")
    print(
        f"| rebuild, all projections | {p.seconds:.1f} | {p.rate:,.0f} "
        f"({p.rate / raw_rate:.0%} of raw) | ≥ 50,000 and ≥ 50 % of raw |"
    )
    print(f"| export (to /dev/null) | {export_s:.1f} | {exported / export_s:,.0f} | ≥ 100,000 |")
    print(f"| verify (archive) | {verify_s:.1f} | {verified.events / verify_s:,.0f} | ≥ 100,000 |")
    live_rate = len(live) / live_s
    print(
        f"| live projector, first {len(live):,} events in poll batches of 5,000 | {live_s:.1f} "
        f"| {live_rate:,.0f} ({live_rate / raw_rate:.0%} of raw) | (none) |"
    )
    print(f"read-model rows written by the rebuild: {p.rows:,} ({p.rows / p.seconds:,.0f}/s)")
    print("rows: " + ", ".join(f"{t} {c:,}" for t, c in result.rows.items()))
    if p.verdicts_changed:
        print(f"WARNING: {p.verdicts_changed} verdicts differ from the archive's")


async def main_async(n_events: int, chunk: int, live_events: int) -> None:
    server = os.environ.get("DATABASE_URL")
    if server:
        from urllib.parse import urlsplit, urlunsplit

        name = f"bench_replay_{os.getpid()}"
        admin = await asyncpg.connect(server)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = urlunsplit(urlsplit(server)._replace(path="/" + name))
            await bench(url, n_events, chunk, live_events)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        return
    from intentml.infra.embedded import start_postgres, stop_postgres

    with tempfile.TemporaryDirectory(prefix="intentml-bench-") as tmp:
        url = start_postgres(Path(tmp) / "pg")
        try:
            await bench(url, n_events, chunk, live_events)
        finally:
            stop_postgres(Path(tmp) / "pg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--chunk", type=int, default=CHUNK, help="build-log rows per COPY, and rows read ahead"
    )
    parser.add_argument(
        "--live-events",
        type=int,
        default=100_000,
        help="events the live projector applies first (its rate, before the rebuild)",
    )
    args = parser.parse_args()
    asyncio.run(main_async(args.events, args.chunk, args.live_events))


if __name__ == "__main__":
    main()
