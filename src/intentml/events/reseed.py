"""Re-seed an empty broker from the events archive.

The embedded broker keeps its log in memory only. The projector archives
every envelope with its partition and offset, so on start an empty topic is
refilled record for record, partition by partition, in offset order: the
offsets come out identical, and every consumer's stored position stays valid.
"""

from __future__ import annotations

import logging

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from intentml.events.envelope import cloudevents_headers, decode
from intentml.events.log import new_producer

log = logging.getLogger(__name__)

_ARCHIVE = (
    'SELECT partition, "offset", account_id, model_name, value FROM events '
    'WHERE partition = $1 ORDER BY "offset"'
)
_LAST_OFFSETS = 'SELECT partition, max("offset") AS last FROM events GROUP BY partition'


async def end_offsets(bootstrap_servers: str, topic: str, partitions: int) -> dict[int, int]:
    """The next offset of every partition of `topic`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def reseed_if_empty(
    pool: asyncpg.Pool, bootstrap_servers: str, topic: str, partitions: int
) -> int:
    """Refill an empty topic from the archive; returns the number of events written."""
    ends = await end_offsets(bootstrap_servers, topic, partitions)
    archived = {r["partition"]: r["last"] + 1 for r in await pool.fetch(_LAST_OFFSETS)}
    if not archived or any(ends.values()):
        return 0
    producer = new_producer(bootstrap_servers)
    await producer.start()
    written = 0
    try:
        async with pool.acquire() as conn, conn.transaction():
            for partition in sorted(archived):
                expected = 0
                async for row in conn.cursor(_ARCHIVE, partition, prefetch=2000):
                    if row["offset"] != expected:
                        raise RuntimeError(
                            f"the archive has a gap in partition {partition} at offset {expected}"
                        )
                    await producer.send(
                        topic,
                        row["value"],
                        partition=partition,
                        key=f"{row['account_id']}/{row['model_name']}".encode(),
                        headers=cloudevents_headers(decode(row["value"])),
                    )
                    expected += 1
                    written += 1
        await producer.flush()
    finally:
        await producer.stop()
    after = await end_offsets(bootstrap_servers, topic, partitions)
    for partition, nxt in archived.items():
        if after.get(partition) != nxt:
            raise RuntimeError(
                f"re-seeding partition {partition} ended at offset "
                f"{after.get(partition)}, expected {nxt}"
            )
    log.info("re-seeded %d events from the archive", written)
    return written
