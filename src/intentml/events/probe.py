"""What the log really holds, asked by fetching rather than from its end offsets.

Measured on the bundled Tansu with its log in S3: the end offsets it reports lag
what it serves (182 reported while 200 records were read back). Whether a
partition holds a record at or after an offset is therefore asked the way a
consumer would learn it: seek there and fetch, bounded in time.
"""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from intentml.events.checkpoints import CheckpointWatcher


async def record_at_or_after(
    bootstrap_servers: str, topic: str, start: dict[int, int], wait_s: float
) -> tuple[int, int] | None:
    """A record at or after `start[partition]` in any partition of `start`, as
    (partition, offset), if a fetch returns one within `wait_s`; else None (empty
    there, or slower than `wait_s`)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        # An offset past what the broker admits to must not jump back to 0 and be
        # read as "there are records": fetch from its reported end instead.
        auto_offset_reset="latest",
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        tps = {TopicPartition(topic, p): off for p, off in start.items()}
        consumer.assign(list(tps))
        for tp, off in tps.items():
            consumer.seek(tp, off)
        deadline = time.monotonic() + wait_s
        while (left := deadline - time.monotonic()) > 0:
            batch = await consumer.getmany(timeout_ms=max(1, int(left * 1000)))
            for tp, records in batch.items():
                hits = [r.offset for r in records if r.offset >= tps[tp]]
                if hits:
                    return tp.partition, min(hits)
    finally:
        await consumer.stop()
    return None


async def holds_records(
    bootstrap_servers: str, topic: str, partitions: int, wait_s: float = 3.0
) -> bool:
    """Whether any partition of `topic` serves a record (fetched from offset 0)."""
    start = {p: 0 for p in range(partitions)}
    return await record_at_or_after(bootstrap_servers, topic, start, wait_s) is not None


async def wait_drained(
    bootstrap_servers: str,
    topic: str,
    partitions: int,
    watcher: CheckpointWatcher,
    timeout_s: float,
    probe_s: float = 1.0,
) -> bool:
    """Wait until the projector that `watcher` follows has applied every record the log
    serves (no record is fetched past its checkpoints within `probe_s`); False when
    `timeout_s` passes first."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        start = {p: watcher.next_offsets.get(p, 0) for p in range(partitions)}
        ahead = await record_at_or_after(bootstrap_servers, topic, start, min(left, probe_s))
        if ahead is None:
            return True
        if not await watcher.wait(*ahead, max(0.01, deadline - time.monotonic())):
            return False
    return False
