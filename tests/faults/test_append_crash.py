"""kill -9 of an appender at the worst moments: nothing acknowledged is lost, nothing takes
effect twice, and no chain forks (`intentml.events.log`).

The appender is a real process (`tests.faults.appender`) killed with SIGKILL right after
it stored the event with its chain head, or right after the broker acknowledged it and
before it could say so in PostgreSQL; the real broker and database carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from intentml.cli.events import verify_archive, verify_log
from intentml.config import Settings
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.log import Appended, EventLog, new_producer
from intentml.infra.db import create_pool
from intentml.infra.setup import prepare
from projections.projector import Projector
from tests.conftest import running
from tests.faults.appender import upload

ACCOUNT = "acme"


@dataclass
class Log:
    pool: asyncpg.Pool
    log: EventLog
    watcher: CheckpointWatcher


@contextlib.asynccontextmanager
async def projected(settings: Settings) -> AsyncIterator[Log]:
    """A projector folding the topic, and an appender whose lease on a dead appender's
    pending event is already over (so no test waits for it)."""
    pool = await create_pool(settings.database_url)
    producer = new_producer(settings.kafka_bootstrap_servers)
    watcher = CheckpointWatcher(settings.database_url)
    await producer.start()
    await watcher.start()
    stop = asyncio.Event()
    projector = Projector(pool, settings.kafka_bootstrap_servers, settings.topic)
    try:
        async with running(projector.run(stop)):
            yield Log(pool, EventLog(producer, pool, settings.topic, lease_s=0.0), watcher)
            stop.set()
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()


async def kill_appender(settings: Settings, moment: str) -> str:
    """Run an appender that kills itself at `moment`; the id of the event it appended."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.appender",
        settings.database_url,
        settings.kafka_bootstrap_servers,
        settings.topic,
        ACCOUNT,
        moment,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == -signal.SIGKILL, out
    return out.decode().strip()


async def applied(log: Log, appended: Appended) -> None:
    assert appended.partition is not None and appended.offset is not None
    assert await log.watcher.wait(appended.partition, appended.offset, 30.0)


async def archive(pool: asyncpg.Pool) -> list[tuple[str, bool]]:
    rows = await pool.fetch('SELECT event_id, accepted FROM events ORDER BY partition, "offset"')
    return [(r["event_id"], r["accepted"]) for r in rows]


@pytest.mark.parametrize("moment", ["claimed", "acked"])
async def test_a_killed_appender_neither_loses_nor_doubles_nor_forks(
    settings: Settings, moment: str
) -> None:
    await prepare(settings)
    killed = await kill_appender(settings, moment)
    async with projected(settings) as log:
        head = await log.pool.fetchrow(
            "SELECT event_id, pending IS NOT NULL AS pending FROM stream_heads WHERE stream = $1",
            f"{ACCOUNT}/",
        )
        assert head is not None and head["event_id"] == killed and head["pending"]
        # The next append of the stream produces the dead appender's event first.
        after = await log.log.append(upload(ACCOUNT, "after"))
        await applied(log, after)
        found = await archive(log.pool)
        if moment == "claimed":  # it never reached the broker: produced once, now
            assert found == [(killed, True), (after.envelope.event_id, True)]
        else:  # it did: the second copy is in the log, and ignored
            assert found == [(killed, True), (killed, False), (after.envelope.event_id, True)]
        assert await log.pool.fetchval("SELECT count(*) FROM uploads") == 2
        assert not await log.pool.fetchval("SELECT bool_or(pending IS NOT NULL) FROM stream_heads")
        for report in (await verify_archive(settings), await verify_log(settings)):
            assert report.intact, report.problem
            assert report.events == 2 and report.copies == (moment == "acked")


async def test_a_pending_event_reaches_the_log_without_another_append(
    settings: Settings,
) -> None:
    await prepare(settings)
    killed = await kill_appender(settings, "claimed")
    async with projected(settings) as log:
        # What every API and worker process runs in the background.
        assert await log.log.produce_abandoned() == 1
        assert await log.log.produce_abandoned() == 0
        # The stream's next event lands after it in the same partition.
        await applied(log, await log.log.append(upload(ACCOUNT, "marker")))
        verdict = await log.pool.fetchrow("SELECT accepted FROM events WHERE event_id = $1", killed)
        assert verdict is not None and verdict["accepted"]
        assert await log.pool.fetchval("SELECT count(*) FROM uploads") == 2
        assert (await verify_archive(settings)).intact
