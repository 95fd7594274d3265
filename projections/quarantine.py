"""Records the projector cannot apply yet or ever: halts and the quarantine.

- An event of a schema version newer than the code halts its partition at its
  offset (`projection_halts`): nothing after it on that partition is applied until
  an intentml that knows the version runs; it is never skipped.
- A record that cannot be decoded at all (not JSON, not an envelope, an unknown
  type) is quarantined (`quarantine`) with its position, key, headers and bytes
  verbatim, in the transaction that moves the offset past it.
"""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord

from intentml.domain.text import storable

SAVE_HALT = """
INSERT INTO projection_halts (projection, partition, "offset", reason) VALUES ($1, $2, $3, $4)
ON CONFLICT (projection, partition) DO UPDATE
SET "offset" = EXCLUDED."offset", reason = EXCLUDED.reason,
    since = CASE WHEN projection_halts."offset" = EXCLUDED."offset"
                 THEN projection_halts.since ELSE now() END
"""
CLEAR_HALTS = "DELETE FROM projection_halts WHERE projection = $1 AND partition = ANY($2::int[])"
HALTS = (
    'SELECT partition, "offset", reason, since FROM projection_halts '
    "WHERE projection = $1 ORDER BY partition"
)
QUARANTINE = """
INSERT INTO quarantine
    (projection, partition, "offset", key, header_names, header_values, value, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (projection, partition, "offset") DO NOTHING
"""
QUARANTINED = (
    'SELECT partition, "offset", key, header_names, header_values, value, error, '
    'quarantined_at FROM quarantine WHERE projection = $1 ORDER BY partition, "offset"'
)
QUARANTINE_COUNT = "SELECT count(*) FROM quarantine WHERE projection = $1"


def quarantine_row(
    projection: str, partition: int, record: ConsumerRecord[bytes, bytes], error: Exception
) -> tuple[Any, ...]:
    """A record as the quarantine keeps it (`QUARANTINE`): bytes verbatim, text storable."""
    headers = list(record.headers or ())
    return (
        projection,
        partition,
        record.offset,
        record.key,
        [storable(name) for name, _ in headers],
        [value for _, value in headers],
        record.value,
        storable(f"{type(error).__name__}: {error}")[:2000],
    )
