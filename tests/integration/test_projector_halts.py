"""No record stops the projector, and none is skipped: an event newer than the code halts
its partition until an upgrade; a record that cannot be decoded is quarantined."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import Callable

import httpx
import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from consumers.worker import Worker, WorkerContext
from intentml.cli.events import quarantine
from intentml.config import Settings
from intentml.events import schema
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.envelope import Envelope, encode, make_event
from intentml.events.log import EventLog, ensure_topic, new_producer
from intentml.events.reseed import reseed_if_empty
from intentml.events.types import DatasetUploaded
from intentml.infra.db import create_pool
from intentml.infra.setup import prepare
from projections.projector import Projector
from tests.conftest import running
from tests.stack import api_server

#: The version of `DatasetUploaded` this code knows, and one from a newer release.
CURRENT = schema.SCHEMA_VERSIONS["DatasetUploaded"]
NEWER_VERSION = CURRENT + 1
NEWER = (
    f"schema version {NEWER_VERSION} of DatasetUploaded is newer than this intentml "
    f"({CURRENT}): upgrade intentml"
)


def upload(upload_id: str, version: int = 1) -> bytes:
    env = make_event(
        DatasetUploaded(
            upload_id=upload_id,
            filename="f.csv",
            format="csv",
            rows=1,
            columns=[],
            size_bytes=1,
            sha256="s",
        ),
        account_id=f"acct-{upload_id}",  # a stream each: no chain to keep by hand
        actor="test",
    )
    return encode(msgspec.structs.replace(env, schema_version=version))


async def _produce(producer: AIOKafkaProducer, topic: str, partition: int, value: bytes) -> int:
    meta = await producer.send_and_wait(
        topic, value, key=b"acme/", partition=partition, headers=[("ce_type", b"x")]
    )
    offset: int = meta.offset
    return offset


async def _until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_newer_event_halts_only_its_partition_and_undecodable_records_are_quarantined(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    await prepare(settings)
    pool = await create_pool(settings.database_url)
    producer = new_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    watcher = CheckpointWatcher(settings.database_url)
    await watcher.start()
    topic = settings.topic
    try:
        before = await _produce(producer, topic, 0, upload("p0-before"))
        newer = await _produce(producer, topic, 0, upload("p0-newer", version=NEWER_VERSION))
        after = await _produce(producer, topic, 0, upload("p0-after"))
        garbage = [b"\x00\xffnot json", b'{"type": "SomethingNew", "schema_version": 5}']
        p1 = [
            await _produce(producer, topic, 1, value)
            for value in (upload("p1-a"), garbage[0], upload("p1-b"), garbage[1], upload("p1-c"))
        ]
        caplog.set_level(logging.ERROR, logger="projections.projector")
        stop = asyncio.Event()
        old = Projector(pool, settings.kafka_bootstrap_servers, topic, "p1", halt_retry_s=0.1)
        async with running(old.run(stop)):
            # Partition 1 goes on past both bad records; partition 0 stops at the newer event.
            assert await watcher.wait(1, p1[-1], 30.0)
            assert await watcher.wait(0, before, 30.0)
            halts = await pool.fetch("SELECT * FROM projection_halts")
            assert [(h["partition"], h["offset"], h["reason"]) for h in halts] == [
                (0, newer, NEWER)
            ]
            # Retried periodically, logging why each time; never skipped.
            await _until(lambda: sum(NEWER in r.getMessage() for r in caplog.records) >= 3)
            assert not watcher.passed(0, newer)
            assert (
                await pool.fetchval(
                    "SELECT next_offset FROM projection_offsets WHERE partition = 0"
                )
                == newer
            )
            uploads = {r["upload_id"] for r in await pool.fetch("SELECT upload_id FROM uploads")}
            assert uploads == {"p0-before", "p1-a", "p1-b", "p1-c"}
            assert await pool.fetchval("SELECT count(*) FROM events WHERE partition = 0") == 1

            quarantined = await pool.fetch('SELECT * FROM quarantine ORDER BY "offset"')
            assert [(q["partition"], q["offset"]) for q in quarantined] == [(1, p1[1]), (1, p1[3])]
            assert [bytes(q["value"]) for q in quarantined] == garbage
            assert all(bytes(q["key"]) == b"acme/" and q["error"] for q in quarantined)
            assert quarantined[0]["header_names"] == ["ce_type"]
            assert [bytes(v) for v in quarantined[0]["header_values"]] == [b"x"]

            # The operator's view: `intentml events quarantine`, bytes verbatim (base64).
            out = io.BytesIO()
            assert await quarantine(settings, out) == 1
            lines = [msgspec.json.decode(line) for line in out.getvalue().splitlines()]
            assert [base64.b64decode(line["value"]) for line in lines] == garbage
            assert [line["offset"] for line in lines] == [p1[1], p1[3]]

            # /health names the halt and counts the quarantine.
            async with api_server(settings) as (url, _app), httpx.AsyncClient(base_url=url) as c:
                r = await c.get("/health")
            assert r.status_code == 503, r.text
            body = r.json()
            assert body["projector"] == "halted" and body["database"] == "ok"
            assert [(h["partition"], h["offset"]) for h in body["halted"]] == [(0, newer)]
            assert NEWER in body["halted"][0]["reason"] and body["quarantined"] == 2
            stop.set()

        # The upgrade: a projector that knows the newer version starts from the stored offset.
        monkeypatch.setitem(schema.SCHEMA_VERSIONS, "DatasetUploaded", NEWER_VERSION)  # type: ignore[index]
        monkeypatch.setitem(schema.UPCASTERS, ("DatasetUploaded", CURRENT), dict)  # type: ignore[index]
        stop = asyncio.Event()
        new = Projector(pool, settings.kafka_bootstrap_servers, topic, "p2")
        async with running(new.run(stop)):
            assert await watcher.wait(0, after, 30.0)
            stop.set()
        uploads = {r["upload_id"] for r in await pool.fetch("SELECT upload_id FROM uploads")}
        assert {"p0-newer", "p0-after"} <= uploads
        assert await pool.fetchval("SELECT count(*) FROM projection_halts") == 0
        offsets = await pool.fetch('SELECT partition, "offset" FROM events ORDER BY 1, 2')
        assert [(r["partition"], r["offset"]) for r in offsets] == [
            (0, before),
            (0, newer),
            (0, after),
            (1, p1[0]),
            (1, p1[2]),
            (1, p1[4]),
        ]

        # An empty broker is re-seeded with the quarantined records too: same offsets.
        copy = topic + ".copy"
        await ensure_topic(settings.kafka_bootstrap_servers, copy, 2)
        assert await reseed_if_empty(pool, settings.kafka_bootstrap_servers, copy, 2) == 8
        assert await _records(settings, copy) == await _records(settings, topic)
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()


async def _records(settings: Settings, topic: str) -> list[tuple[int, int, bytes | None]]:
    """Every record of `topic`: partition, offset, value."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(2)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[tuple[int, int, bytes | None]] = []
        deadline = asyncio.get_running_loop().time() + 30.0
        while len(found) < 8:
            assert asyncio.get_running_loop().time() < deadline, found
            for recs in (await consumer.getmany(timeout_ms=1000)).values():
                found += [(r.partition, r.offset, r.value) for r in recs]
        return sorted(found)
    finally:
        await consumer.stop()


class _Recorder:
    """A worker's handler that notes the offsets it was given."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    async def handle(self, ctx: WorkerContext, env: Envelope, partition: int, offset: int) -> None:
        self.seen.append(offset)


async def test_a_worker_waits_at_an_event_newer_than_its_code_and_skips_nothing(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    await prepare(settings)
    pool = await create_pool(settings.database_url)
    producer = new_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    watcher = CheckpointWatcher(settings.database_url)
    await watcher.start()
    topic = settings.topic
    try:
        offsets = [
            await _produce(producer, topic, 0, value)
            for value in (upload("a"), upload("b", version=NEWER_VERSION), upload("c"))
        ]
        caplog.set_level(logging.ERROR, logger="consumers.worker")
        stop = asyncio.Event()
        ctx = WorkerContext("w", pool, EventLog(producer, pool, topic), watcher, stop)
        recorder = _Recorder()
        worker = Worker(
            ctx, recorder, settings.kafka_bootstrap_servers, topic, "w", halt_retry_s=0.1
        )
        async with running(worker.run()):
            await _until(lambda: sum(NEWER in r.getMessage() for r in caplog.records) >= 3)
            assert recorder.seen == offsets[:1]
            tp = TopicPartition(topic, 0)
            assert await worker.consumer.committed(tp) == offsets[1]
            # Once the code knows the version, the worker goes on from there.
            monkeypatch.setitem(schema.SCHEMA_VERSIONS, "DatasetUploaded", NEWER_VERSION)  # type: ignore[index]
            monkeypatch.setitem(schema.UPCASTERS, ("DatasetUploaded", CURRENT), dict)  # type: ignore[index]
            await _until(lambda: recorder.seen == offsets)
            stop.set()
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()
