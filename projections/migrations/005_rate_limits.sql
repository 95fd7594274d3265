-- Issue 5: rate limits shared by every API process of a deployment.

-- One token bucket per key and kind of request ('management', 'inference'). Each API
-- process spends from its own copy and about once a second adds what it spent here and
-- reads back the balance (tokens at time `at`, seconds since the epoch), so the limit
-- holds across processes without a round trip per request. Not a projection of the
-- log: counters of traffic, not facts; losing them only refills the buckets.
CREATE TABLE rate_limit_buckets (
    key_id     text             NOT NULL,
    kind       text             NOT NULL,
    per_minute double precision NOT NULL,
    tokens     double precision NOT NULL,
    at         double precision NOT NULL,
    PRIMARY KEY (key_id, kind)
);
