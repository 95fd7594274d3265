-- The chain head and its event become durable together: an appender stores the event's
-- bytes with the new head (`pending`) before it produces, and clears them once the broker
-- acknowledged. A crash in between leaves the event here, to be produced again (the same
-- bytes; the fold ignores the second copy), so the next event of the stream never links
-- to a head the log does not have.
ALTER TABLE stream_heads
    ADD COLUMN pending bytea,
    ADD COLUMN pending_since timestamptz;

CREATE INDEX stream_heads_pending ON stream_heads (pending_since) WHERE pending IS NOT NULL;
