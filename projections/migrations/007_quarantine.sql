-- Records of the log the projector could not decode at all (not JSON, not an envelope,
-- an unknown type): kept verbatim with their position, written in the transaction that
-- moves the offsets past them, so nothing is skipped silently. Not a read model: a
-- replay neither reads nor rebuilds it.
CREATE TABLE quarantine (
    projection     text        NOT NULL,
    partition      integer     NOT NULL,
    "offset"       bigint      NOT NULL,
    key            bytea,
    header_names   text[]      NOT NULL,
    header_values  bytea[]     NOT NULL,
    value          bytea,
    error          text        NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, partition, "offset")
);

-- Partitions a projector stopped at because an event there is newer than its code: the
-- stored offset stays at that event until a newer intentml applies it (then the row goes).
CREATE TABLE projection_halts (
    projection text        NOT NULL,
    partition  integer     NOT NULL,
    "offset"   bigint      NOT NULL,
    reason     text        NOT NULL,
    since      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, partition)
);
