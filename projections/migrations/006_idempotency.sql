-- Issue 12: `Idempotency-Key` on commands (see intentml.api.idempotency).

-- One row per key an account used on a command within the retention
-- (INTENTML_IDEMPOTENCY_TTL_S, 24 h by default). Not a projection of the log and not
-- rebuilt by a replay (like rate_limit_buckets): it records answers, not facts.
--
-- A row is claimed (`owner`, `leased_until`, renewed while the attempt runs) before the
-- command runs; `event_id` is set as soon as the command's event is appended; the answer
-- (`status`, `headers`, `body`) is stored before it is sent, and the claim released.
-- A row with an event and no answer whose lease ran out belongs to an attempt that died:
-- its command must not be run again.
CREATE TABLE idempotency_keys (
    account_id     text        NOT NULL,
    key            text        NOT NULL,
    method         text        NOT NULL,
    path           text        NOT NULL,
    -- SHA-256 of the body (multipart boundary normalised); NULL until it was read.
    body_hash      text,
    owner          uuid,
    leased_until   timestamptz,
    event_id       text,
    status         integer,
    -- [[name, value], ...] of the answer, as Latin-1 text.
    headers        jsonb,
    body           bytea,
    -- The answer's body lacks a secret (a new API key) that is never stored.
    secret_withheld boolean    NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (account_id, key)
);
-- Expired rows are purged a few at a time by each new claim.
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
