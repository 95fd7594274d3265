"""The projector against the real broker and database: exactly-once effect across a crash."""

from __future__ import annotations

import asyncio
import itertools

import pytest

import projections.projector as projector_module
from intentml.config import Settings
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.envelope import Envelope, make_event
from intentml.events.log import Appended, EventLog, new_producer
from intentml.events.types import DatasetUploaded
from intentml.infra.db import create_pool
from intentml.infra.setup import prepare
from projections import queries as q
from projections import rows
from projections.projector import Projector

N_EVENTS = 240
CRASH_AT = "u0137"


def upload_event(i: int) -> Envelope:
    return make_event(
        DatasetUploaded(
            upload_id=f"u{i:04d}",
            filename="f.csv",
            format="csv",
            rows=i,
            columns=[],
            size_bytes=1,
            sha256="s",
        ),
        account_id=f"acct{i % 7}",
        actor="test",
    )


async def test_projector_applies_every_event_exactly_once_across_a_crash(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await prepare(settings)
    pool = await create_pool(settings.database_url)
    producer = new_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    watcher = CheckpointWatcher(settings.database_url)
    await watcher.start()
    try:
        log = EventLog(producer, pool, settings.topic)
        appended: list[Appended] = [await log.append(upload_event(i)) for i in range(N_EVENTS)]

        real_project = rows.project

        def crashing_project(tables, env, partition, offset):  # type: ignore[no-untyped-def]
            if getattr(env.data, "upload_id", None) == CRASH_AT:
                raise RuntimeError("power cut in the middle of a batch")
            real_project(tables, env, partition, offset)

        monkeypatch.setattr(projector_module, "project", crashing_project)
        stop = asyncio.Event()
        first = Projector(
            pool,
            settings.kafka_bootstrap_servers,
            settings.topic,
            group_id="p1",
            max_poll_records=16,
        )
        with pytest.raises(RuntimeError, match="power cut"):
            await first.run(stop)

        # The crash left a consistent prefix: rows and offsets agree partition by partition.
        archived = await pool.fetch(
            'SELECT partition, count(*) AS n, max("offset") AS last FROM events GROUP BY 1'
        )
        offsets = {
            r["partition"]: r["next_offset"]
            for r in await pool.fetch("SELECT partition, next_offset FROM projection_offsets")
        }
        assert sum(r["n"] for r in archived) < N_EVENTS
        for r in archived:
            assert offsets[r["partition"]] == r["n"] == r["last"] + 1
        assert await pool.fetchval("SELECT count(*) FROM uploads") == sum(r["n"] for r in archived)

        monkeypatch.setattr(projector_module, "project", real_project)
        second = Projector(
            pool,
            settings.kafka_bootstrap_servers,
            settings.topic,
            group_id="p2",
            max_poll_records=16,
        )
        task = asyncio.create_task(second.run(stop))
        for a in appended:
            assert await watcher.wait(a.partition, a.offset, 30.0)
        stop.set()
        await task

        assert await pool.fetchval("SELECT count(*) FROM events") == N_EVENTS
        assert await pool.fetchval("SELECT count(DISTINCT event_id) FROM events") == N_EVENTS
        assert await pool.fetchval("SELECT count(*) FROM uploads") == N_EVENTS
        assert await pool.fetchval("SELECT sum(rows) FROM uploads") == sum(range(N_EVENTS))
        assert not await pool.fetchval("SELECT bool_or(NOT accepted) FROM events")
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()


async def test_hash_chain_links_each_event_to_the_previous_of_its_stream(
    settings: Settings,
) -> None:
    await prepare(settings)
    pool = await create_pool(settings.database_url)
    producer = new_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        log = EventLog(producer, pool, settings.topic)
        results = await asyncio.gather(*(log.append(upload_event(i * 7)) for i in range(20)))
        by_offset = sorted(results, key=lambda a: a.offset)
        assert by_offset[0].envelope.prev_hash == ""
        for before, after in itertools.pairwise(by_offset):
            assert after.envelope.prev_hash == before.hash
    finally:
        await producer.stop()
        await pool.close()


async def test_the_projection_writes_every_column_of_every_read_model_table(
    settings: Settings,
) -> None:
    """`queries.COLUMNS` is what rows hold and what is written; a column the migrations
    add and the list misses would silently stay at its default, in live and rebuilt
    tables alike."""
    await prepare(settings)
    pool = await create_pool(settings.database_url)
    try:
        for table, columns in q.COLUMNS.items():
            in_db = await pool.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                table,
            )
            assert tuple(r["column_name"] for r in in_db) == columns, table
    finally:
        await pool.close()
