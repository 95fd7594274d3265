"""The broker frozen (SIGSTOP) under an appender: what was stored is produced once the
broker is back, nothing else is stored meanwhile, and reads never wait for the broker."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import msgspec
import pytest

from intentml.cli.events import verify_archive
from intentml.config import Settings
from intentml.events.log import EventLog, LogUnavailable
from intentml.infra.db import create_pool
from intentml.infra.embedded import EmbeddedBroker
from intentml.infra.setup import prepare
from tests.faults.appender import upload
from tests.faults.test_append_crash import ACCOUNT, applied, projected


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, to freeze."""
    own = EmbeddedBroker()
    own.start()
    try:
        yield own
    finally:
        if own.proc is not None:
            os.kill(own.proc.pid, signal.SIGCONT)
        own.stop()


async def test_a_frozen_broker_loses_nothing_and_holds_no_connection(
    settings: Settings, broker: EmbeddedBroker
) -> None:
    settings = msgspec.structs.replace(settings, kafka_bootstrap_servers=broker.bootstrap_servers)
    await prepare(settings)
    assert broker.proc is not None
    async with projected(settings) as log:
        # One connection: an append holding it while it waits would starve the reads.
        single = await create_pool(settings.database_url, min_size=1, max_size=1)
        frozen = EventLog(log.log.producer, single, settings.topic, produce_timeout_s=1.0)
        await applied(log, await frozen.append(upload(ACCOUNT, "before")))
        os.kill(broker.proc.pid, signal.SIGSTOP)
        try:
            waiting = asyncio.create_task(frozen.append(upload(ACCOUNT, "during")))
            # While the append waits for the broker, the database serves everyone else.
            for _ in range(5):
                assert await asyncio.wait_for(single.fetchval("SELECT 1"), 0.5) == 1
            stored = await waiting
            assert stored.partition is None  # not acknowledged, but stored with its head
            started = time.monotonic()
            with pytest.raises(LogUnavailable):
                await frozen.append(upload(ACCOUNT, "refused"))
            assert time.monotonic() - started < 0.5
            head = await log.pool.fetchval(
                "SELECT event_id FROM stream_heads WHERE stream = $1", f"{ACCOUNT}/"
            )
            assert head == stored.envelope.event_id  # the refused one stored nothing
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        # The sweeper every process runs produces what was left pending.
        assert await frozen.produce_abandoned() == 1
        await applied(log, await frozen.append(upload(ACCOUNT, "after")))
        uploads = await log.pool.fetch("SELECT upload_id FROM uploads ORDER BY upload_id")
        assert [r["upload_id"] for r in uploads] == ["after", "before", "during"]
        await single.close()
        report = await verify_archive(settings)
        assert report.intact, report.problem
        # The frozen produce may still have gone out after SIGCONT: a copy, ignored.
        assert report.events == 3 and report.copies <= 1
