"""SQL reading the events archive (`events`): the audit timeline, exports, verification.

The archive is written by the main projector (`ARCHIVE_EVENT` in `queries.py`); these
are its readers. One stream's events all live in one partition (the Kafka key is the
stream), so `(partition, "offset")` is both the log's order and each stream's order.
"""

#: A stream's events: the account's, for one model name (every model of that name, also
#: deleted ones: the history stays).
_STREAM = "FROM events WHERE account_id = $1 AND model_name = $2"
COUNT_STREAM_EVENTS = "SELECT count(*) " + _STREAM
STREAM_EVENTS = (
    'SELECT partition, "offset", hash, accepted, reason, value '
    + _STREAM
    + ' ORDER BY partition, "offset" LIMIT $3 OFFSET $4'
)
#: The whole stream, for a server-side cursor (`intentml audit`).
ALL_STREAM_EVENTS = (
    'SELECT partition, "offset", hash, accepted, reason, value '
    + _STREAM
    + ' ORDER BY partition, "offset"'
)

#: `intentml events export` / `verify`: every filter optional (NULL: no filter), in log
#: order, for a server-side cursor.
EXPORT_EVENTS = """
SELECT partition, "offset", hash, accepted, reason, value FROM events
WHERE ($1::text IS NULL OR account_id = $1)
  AND ($2::text IS NULL OR model_name = $2)
  AND ($3::timestamptz IS NULL OR occurred_at >= $3)
  AND ($4::timestamptz IS NULL OR occurred_at < $4)
  AND ($5::text[] IS NULL OR type = ANY($5::text[]))
ORDER BY partition, "offset"
"""
