"""Re-seed an empty broker from the events archive.

A broker that keeps its log in memory (`INTENTML_LOG_STORAGE=memory`, the test
suite's), or a durable one whose store was lost, starts empty. The projector
archives every envelope with its partition and offset, so on start an empty
topic is refilled record for record, partition by partition, in offset order:
the offsets come out identical, and every consumer's stored position stays valid.

"Empty" is decided by fetching, not by end offsets alone: the bundled Tansu
reports end offsets that lag what its S3 log serves, down to 0 for a partition
that holds records, and re-seeding on top of a log would duplicate it.
Records the projector quarantined are re-sent from the quarantine, where they are
kept verbatim.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import RecordMetadata

from intentml.events.envelope import cloudevents_headers, decode
from intentml.events.log import new_producer
from intentml.events.probe import holds_records

log = logging.getLogger(__name__)

# The quarantined records too (`projections.quarantine`), verbatim with their key and
# headers: they hold their offsets in the log, so without them every later offset moves.
_ARCHIVE = """
SELECT "offset", convert_to(account_id || '/' || model_name, 'UTF8') AS key, value,
       NULL::text[] AS header_names, NULL::bytea[] AS header_values
FROM events WHERE partition = $1
UNION ALL
SELECT "offset", key, value, header_names, header_values
FROM quarantine WHERE projection = 'main' AND partition = $1
ORDER BY "offset"
"""
_LAST_OFFSETS = """
SELECT partition, max(last) AS last FROM (
    SELECT partition, max("offset") AS last FROM events GROUP BY partition
    UNION ALL
    SELECT partition, max("offset") FROM quarantine WHERE projection = 'main' GROUP BY partition
) AS both_tables GROUP BY partition
"""
_FIRST_OFFSETS = """
SELECT partition, min(first) AS first FROM (
    SELECT partition, min("offset") AS first FROM events GROUP BY partition
    UNION ALL
    SELECT partition, min("offset") FROM quarantine WHERE projection = 'main' GROUP BY partition
) AS both_tables GROUP BY partition
"""
#: How long a fetch from offset 0 may take to show that the log is not empty.
EMPTY_PROBE_S = 3.0


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
    archived = {r["partition"]: r["last"] + 1 for r in await pool.fetch(_LAST_OFFSETS)}
    if not archived or any((await end_offsets(bootstrap_servers, topic, partitions)).values()):
        return 0
    if await holds_records(bootstrap_servers, topic, partitions, EMPTY_PROBE_S):
        log.warning("the log reports no records but serves some: not re-seeding it")
        return 0
    producer = new_producer(bootstrap_servers)
    await producer.start()
    written = 0
    try:
        async with pool.acquire() as conn, conn.transaction():
            archived_first = {r["partition"]: r["first"] for r in await conn.fetch(_FIRST_OFFSETS)}
            for partition in sorted(archived):
                pending: list[tuple[int, asyncio.Future[RecordMetadata]]] = []
                async for row in conn.cursor(_ARCHIVE, partition, prefetch=2000):
                    names, values = row["header_names"], row["header_values"]
                    future = await producer.send(
                        topic,
                        row["value"],
                        partition=partition,
                        key=row["key"],
                        headers=cloudevents_headers(decode(row["value"]))
                        if names is None
                        else list(zip(names, values, strict=True)),
                    )
                    pending.append((row["offset"], future))
                    # The first record alone: one landing elsewhere stops the re-seed
                    # before it duplicates more than that record.
                    if len(pending) >= 2000 or row["offset"] == archived_first[partition]:
                        written += await _check_offsets(partition, pending)
                written += await _check_offsets(partition, pending)
    finally:
        await producer.stop()
    log.info("re-seeded %d events from the archive", written)
    return written


async def _check_offsets(
    partition: int, pending: list[tuple[int, asyncio.Future[RecordMetadata]]]
) -> int:
    """Every re-sent record must land at its archived offset, or stored positions break."""
    for archived_offset, future in pending:
        landed = (await future).offset
        if landed != archived_offset:
            raise RuntimeError(
                f"re-seeding partition {partition}: the event archived at offset "
                f"{archived_offset} landed at {landed}; is the archive missing events?"
            )
    n = len(pending)
    pending.clear()
    return n
