"""The durable embedded log: what was acknowledged survives a kill -9 of the broker and
of the object store, and re-seeding never writes on top of a log that holds records."""

from __future__ import annotations

import asyncio
import socket
import time

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from intentml.config import Settings
from intentml.events.checkpoints import CheckpointWatcher
from intentml.events.envelope import decode
from intentml.events.log import EventLog, ensure_topic, new_producer
from intentml.events.probe import holds_records, wait_drained
from intentml.events.reseed import reseed_if_empty
from intentml.infra.db import create_pool
from intentml.infra.embedded import free_port, kafka_answers
from intentml.infra.setup import prepare
from projections.projector import Projector
from tests.conftest import DurableLog, running
from tests.integration.test_projector import upload_event

N = 30


async def read_all(bootstrap: str, topic: str, partitions: int, expected: int) -> list[bytes]:
    """Every record of `topic`, fetched from offset 0 until `expected` came (or 20 s)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    values: list[bytes] = []
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 20
        while len(values) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            values += [r.value or b"" for recs in batch.values() for r in recs]
        # Anything beyond `expected` (a duplicate) would come with the next fetch.
        batch = await consumer.getmany(timeout_ms=500)
        values += [r.value or b"" for recs in batch.values() for r in recs]
    finally:
        await consumer.stop()
    return values


async def test_acknowledged_records_survive_a_kill_of_broker_and_store(
    durable_log: DurableLog,
) -> None:
    topic = "durable." + str(time.time_ns())
    await ensure_topic(durable_log.bootstrap_servers, topic, 2)
    producer = new_producer(durable_log.bootstrap_servers)
    await producer.start()
    try:
        for i in range(N):
            await producer.send_and_wait(topic, f"r{i}".encode(), partition=i % 2)
    finally:
        await producer.stop()
    durable_log.kill()
    durable_log.start_store()
    durable_log.start_broker()
    values = await read_all(durable_log.bootstrap_servers, topic, 2, N)
    assert sorted(values) == sorted(f"r{i}".encode() for i in range(N))
    producer = new_producer(durable_log.bootstrap_servers)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b"after", partition=0)
    finally:
        await producer.stop()
    assert meta.offset == N // 2


async def test_reseed_refills_an_empty_log_and_leaves_a_full_one_alone(
    settings: Settings, durable_log: DurableLog
) -> None:
    settings = msgspec.structs.replace(
        settings, kafka_bootstrap_servers=durable_log.bootstrap_servers
    )
    await prepare(settings)
    pool = await create_pool(settings.database_url)
    producer = new_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    watcher = CheckpointWatcher(settings.database_url)
    await watcher.start()
    try:
        log = EventLog(producer, pool, settings.topic)
        async with running(
            Projector(pool, settings.kafka_bootstrap_servers, settings.topic).run(
                stop := asyncio.Event()
            )
        ):
            appended = [await log.append(upload_event(i)) for i in range(N)]
            for a in appended:  # every partition archived, not only the last one's
                assert await watcher.wait(a.partition, a.offset, 30)
            stop.set()
        # The log holds every event: nothing is written on top, after a restart too.
        durable_log.kill()
        durable_log.start_store()
        durable_log.start_broker()
        bootstrap = settings.kafka_bootstrap_servers
        assert await reseed_if_empty(pool, bootstrap, settings.topic, settings.partitions) == 0
        assert len(await read_all(bootstrap, settings.topic, settings.partitions, N)) == N

        # The same archive against a topic that is truly empty (a lost store): refilled.
        empty = "lost." + settings.topic
        await ensure_topic(bootstrap, empty, settings.partitions)
        assert not await holds_records(bootstrap, empty, settings.partitions, 1.0)
        assert await reseed_if_empty(pool, bootstrap, empty, settings.partitions) == N
        refilled = await read_all(bootstrap, empty, settings.partitions, N)
        assert sorted(decode(v).event_id for v in refilled) == sorted(
            a.envelope.event_id for a in appended
        )
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()


async def test_wait_drained_waits_until_the_projector_applied_the_whole_log(
    settings: Settings,
) -> None:
    await prepare(settings)
    pool = await create_pool(settings.database_url)
    producer = new_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    watcher = CheckpointWatcher(settings.database_url)
    await watcher.start()
    bootstrap, topic, partitions = (
        settings.kafka_bootstrap_servers,
        settings.topic,
        settings.partitions,
    )
    try:
        log = EventLog(producer, pool, topic)
        appended = [await log.append(upload_event(i)) for i in range(N)]
        # No projector: the log holds what nobody applied, and the wait says so in time.
        assert not await wait_drained(bootstrap, topic, partitions, watcher, 2.0)
        stop = asyncio.Event()
        async with running(Projector(pool, bootstrap, topic).run(stop)):
            assert await wait_drained(bootstrap, topic, partitions, watcher, 60.0)
            for a in appended:
                assert watcher.passed(a.partition, a.offset)
            stop.set()
    finally:
        await watcher.stop()
        await producer.stop()
        await pool.close()


def test_a_broker_is_ready_when_it_answers_not_when_its_port_listens(
    durable_log: DurableLog,
) -> None:
    assert durable_log.broker.ready()
    # Something that accepts connections but never speaks Kafka (a port taken by
    # another server) is not a ready broker; nor is a port nobody listens on.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert not kafka_answers("127.0.0.1", silent.getsockname()[1], timeout_s=0.3)
    assert not kafka_answers("127.0.0.1", free_port())
