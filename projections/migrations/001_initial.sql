-- The read models of the main projection, its fold state and its Kafka offsets.

-- Every envelope of the log with its position and hash: audits, re-seeding.
CREATE TABLE events (
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    event_id     text        NOT NULL,
    type         text        NOT NULL,
    account_id   text        NOT NULL,
    model_name   text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    actor        text        NOT NULL,
    hash         text        NOT NULL,
    prev_hash    text        NOT NULL,
    accepted     boolean     NOT NULL,
    reason       text,
    value        bytea       NOT NULL,
    PRIMARY KEY (partition, "offset")
);
CREATE INDEX events_event_id ON events (event_id);
CREATE INDEX events_stream ON events (account_id, model_name, partition, "offset");

-- Next offset to read per partition, written in the same transaction as the rows.
CREATE TABLE projection_offsets (
    projection  text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    PRIMARY KEY (projection, partition)
);

-- The fold's state per stream (account/model), so decisions replay identically.
CREATE TABLE aggregates (
    stream text  PRIMARY KEY,
    state  bytea NOT NULL
);

-- Head of each stream's hash chain, kept by the appenders under an advisory lock.
CREATE TABLE stream_heads (
    stream   text PRIMARY KEY,
    hash     text NOT NULL,
    event_id text NOT NULL
);

CREATE TABLE api_keys (
    key_id     text        PRIMARY KEY,
    account_id text        NOT NULL,
    key_hash   text        NOT NULL UNIQUE,
    scope      text        NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE TABLE uploads (
    upload_id  text        PRIMARY KEY,
    account_id text        NOT NULL,
    filename   text        NOT NULL,
    format     text        NOT NULL,
    rows       bigint      NOT NULL,
    columns    jsonb       NOT NULL,
    size_bytes bigint      NOT NULL,
    sha256     text        NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE models (
    model_id       text        PRIMARY KEY,
    account_id     text        NOT NULL,
    model_name     text        NOT NULL,
    name           text        NOT NULL,
    intent         text        NOT NULL,
    description    text        NOT NULL,
    tags           jsonb       NOT NULL,
    dataset_id     text        NOT NULL,
    input_schema   jsonb,
    output_schema  jsonb,
    latest_version integer     NOT NULL,
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    deleted_at     timestamptz
);
CREATE UNIQUE INDEX models_live_name ON models (account_id, model_name) WHERE deleted_at IS NULL;
CREATE INDEX models_account_created ON models (account_id, created_at);

CREATE TABLE versions (
    model_id           text        NOT NULL REFERENCES models (model_id),
    version            integer     NOT NULL,
    version_id         text        NOT NULL UNIQUE,
    job_id             text        NOT NULL UNIQUE,
    account_id         text        NOT NULL,
    model_name         text        NOT NULL,
    status             text        NOT NULL,
    build_progress     integer     NOT NULL,
    upload_id          text        NOT NULL,
    intent             text        NOT NULL,
    target             text        NOT NULL,
    target_reason      text        NOT NULL,
    requested_metric   text,
    task               text,
    metric_name        text,
    metric_value       double precision,
    metrics            jsonb,
    feature_importance jsonb,
    features           jsonb,
    dropped_columns    jsonb,
    rows_used          bigint,
    training_seconds   double precision,
    artifact           text,
    input_schema       jsonb,
    output_schema      jsonb,
    error_code         text,
    error_message      text,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (model_id, version)
);

-- Keyed by log position, so a rebuild writes exactly the same rows in the same order.
CREATE TABLE build_logs (
    partition  integer     NOT NULL,
    "offset"   bigint      NOT NULL,
    line       integer     NOT NULL,
    job_id     text        NOT NULL,
    account_id text        NOT NULL,
    model_name text        NOT NULL,
    version    integer     NOT NULL,
    logged_at  timestamptz NOT NULL,
    level      text        NOT NULL,
    message    text        NOT NULL,
    PRIMARY KEY (partition, "offset", line)
);
CREATE INDEX build_logs_job ON build_logs (job_id, logged_at);
CREATE INDEX build_logs_account ON build_logs (account_id, logged_at);
