"""`intentml replay`: a rebuild from offset 0 gives the very tables it replaces, while the
live projector keeps applying events, and the projector continues on the new tables."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from typing import Any, get_args

import asyncpg

from benchmarks.replay import lifecycle_events, model_lifecycle
from intentml.config import Settings
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.envelope import Envelope, make_event
from intentml.events.log import Appended, EventLog, new_producer
from intentml.events.types import EventData
from intentml.infra.db import create_pool
from intentml.infra.setup import prepare
from projections.projector import Projector
from projections.replay import rebuild
from projections.replay_queries import TABLES
from tests.conftest import running

Snapshot = dict[str, list[tuple[Any, ...]]]


async def snapshot(pool: asyncpg.Pool) -> Snapshot:
    """Every read-model table, every column, in a fixed order. No column is left out:
    every value comes from the events (times are the events' `occurred_at`), and the
    fold's state is compared as the bytes stored (its encoding is the same in every
    process)."""
    return {
        t: [tuple(r) for r in await pool.fetch(f"SELECT * FROM {t} ORDER BY ({t}.*)::text")]
        for t in TABLES
    }


class _Always(random.Random):
    """Chances that always come out the same way: a lifecycle down chosen branches."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def every_branch() -> list[Envelope]:
    """Two model lifecycles that take every rare branch of the generator between them:
    a rejected duplicate create, a cancelled build, a deployment that fails to start, a
    rename, a delete and the name taken again (all at 0.0), a failed build and an
    undeploy (at 0.12)."""
    envelopes = []
    for i, value in enumerate((0.0, 0.12)):
        name, events, uploaded = model_lifecycle(5000 + i, _Always(value))
        envelopes.append(make_event(uploaded, account_id="acct0", actor="test"))
        envelopes += [
            make_event(d, account_id="acct0", model_name=name, actor="test") for d in events
        ]
    return envelopes


SCHEMA = """
SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE connamespace = 'public'::regnamespace
ORDER BY 1, 2, 3
"""


async def test_replay_rebuilds_identical_tables_while_the_projector_runs(
    settings: Settings,
) -> None:
    await prepare(settings)
    pool = await create_pool(settings.database_url)
    producer = new_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    watcher = CheckpointWatcher(settings.database_url)
    await watcher.start()
    log = EventLog(producer, pool, settings.topic)

    async def append_and_wait(
        n: int, first_model: int, also: Iterable[Envelope] = ()
    ) -> list[Appended]:
        events = [*lifecycle_events(n, seed=first_model, first_model=first_model), *also]
        appended = [await log.append(e) for e in events]
        for a in appended:
            assert await watcher.wait(a.partition, a.offset, 30.0)
        return appended

    live_at_switch: Snapshot = {}

    async def during_rebuild() -> None:
        # Events the rebuild's first passes did not see: they must come in the tail.
        await append_and_wait(150, first_model=1000)
        live_at_switch.update(await snapshot(pool))

    try:
        schema_before = [tuple(r) for r in await pool.fetch(SCHEMA)]
        stop = asyncio.Event()
        projector = Projector(pool, settings.kafka_bootstrap_servers, settings.topic)
        async with running(projector.run(stop)):
            await append_and_wait(600, first_model=0, also=every_branch())
            rejected = await pool.fetchval("SELECT count(*) FROM events WHERE NOT accepted")
            assert rejected > 0  # duplicate creates and accounts: the fold's verdicts replay too
            accepted = await pool.fetch("SELECT DISTINCT type FROM events WHERE accepted")
            every_type = {t.__name__ for t in get_args(EventData)}
            assert {r["type"] for r in accepted} >= every_type

            result = await rebuild(settings.database_url, before_switch=during_rebuild)

            assert result.tables == TABLES
            assert result.progress.events == await pool.fetchval("SELECT count(*) FROM events")
            assert result.progress.verdicts_changed == 0
            rebuilt = await snapshot(pool)
            assert all(live_at_switch[t] for t in TABLES)
            for t in TABLES:
                assert rebuilt[t] == live_at_switch[t], t
            # Same indexes and constraints under the same names, as if migrated.
            assert [tuple(r) for r in await pool.fetch(SCHEMA)] == schema_before
            assert (
                await pool.fetchval(
                    "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'replay_%'"
                )
                == 0
            )

            # The projector goes on in the new tables from where the rebuild ended: a gap
            # or a second application would show against a rebuild of everything.
            await append_and_wait(120, first_model=2000)
            after = await snapshot(pool)
            assert len(after["build_logs"]) > len(rebuilt["build_logs"])
            once_more = await rebuild(settings.database_url, ["keys", "models"])
            assert once_more.tables == ("accounts", "api_keys", "models", "versions", "deployments")
            again = await snapshot(pool)
            assert again == after
            stop.set()
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()
