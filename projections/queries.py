"""The SQL of the main projection: the projector's reads and writes, and the workers' and
the CLI's reads. The API's reads are in `projections.read_models`, one module per resource.

Statuses come from `intentml.domain.statuses`, written into the SQL as literals when
a module loads (`sql_literal`): they are constants of the code, not of a request, and
a literal lets the planner see the value.
"""

# --- projector bookkeeping -------------------------------------------------

LOAD_OFFSETS = "SELECT partition, next_offset FROM projection_offsets WHERE projection = $1"
INIT_OFFSETS = """
INSERT INTO projection_offsets (projection, partition, next_offset)
SELECT $1, p, 0 FROM unnest($2::int[]) AS p
ON CONFLICT DO NOTHING
"""
LOCK_OFFSETS = """
SELECT partition, next_offset FROM projection_offsets
WHERE projection = $1 AND partition = ANY($2::int[])
FOR UPDATE
"""
SAVE_OFFSET = """
INSERT INTO projection_offsets (projection, partition, next_offset) VALUES ($1, $2, $3)
ON CONFLICT (projection, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset
"""
NOTIFY_CHECKPOINT = "SELECT pg_notify('intentml_checkpoints', $1)"
LOAD_STATES = "SELECT stream, state FROM aggregates WHERE stream = ANY($1::text[])"
SAVE_STATE = """
INSERT INTO aggregates (stream, state) VALUES ($1, $2)
ON CONFLICT (stream) DO UPDATE SET state = EXCLUDED.state
"""
#: The columns of an archived event, in the order of `projector.archive_row`'s tuple.
ARCHIVE_COLUMNS = (
    "partition", "offset", "event_id", "type", "account_id", "model_name", "occurred_at",
    "actor", "hash", "prev_hash", "accepted", "reason", "value",
)  # fmt: skip
ARCHIVE_EVENT = f"""
INSERT INTO events ({", ".join(f'"{c}"' for c in ARCHIVE_COLUMNS)})
VALUES ({", ".join(f"${i}" for i in range(1, len(ARCHIVE_COLUMNS) + 1))})
"""

# --- read-model rows (`projections.rows` computes them; these load and store them) ---

#: Every column of every read-model table, in table order: what a row dict holds. Tables
#: are listed so that writing them in this order satisfies the foreign keys.
COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "created_by", "created_at"),
    "api_keys": (
        "key_id", "account_id", "key_hash", "scope", "name", "created_at", "revoked_at",
        "created_by", "revoked_by", "rate_limits",
    ),
    "uploads": (
        "upload_id", "account_id", "filename", "format", "rows", "columns", "size_bytes",
        "sha256", "created_by", "created_at",
    ),
    "models": (
        "model_id", "account_id", "model_name", "name", "intent", "description", "tags",
        "dataset_id", "input_schema", "output_schema", "latest_version", "created_by",
        "created_at", "updated_at", "deleted_at",
    ),
    "versions": (
        "model_id", "version", "version_id", "job_id", "account_id", "model_name", "status",
        "build_progress", "upload_id", "intent", "target", "target_reason", "requested_metric",
        "task", "metric_name", "metric_value", "metrics", "feature_importance", "features",
        "dropped_columns", "rows_used", "training_seconds", "artifact", "input_schema",
        "output_schema", "error_code", "error_message", "created_at", "updated_at", "source",
        "max_iterations", "created_by", "report", "time_budget_s", "build_attempts",
        "cancel_requested_at", "cancel_requested_by", "cancel_reason",
    ),
    "deployments": (
        "deployment_id", "model_id", "account_id", "model_name", "version", "environment",
        "replicas", "auto_scale", "status", "error_message", "created_by", "created_at",
        "updated_at", "activated_at", "ended_at",
    ),
    "build_logs": (
        "partition", "offset", "line", "job_id", "account_id", "model_name", "version",
        "logged_at", "level", "message",
    ),
}  # fmt: skip
#: The primary key of each table whose rows are updated (build logs are only inserted).
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id",),
    "api_keys": ("key_id",),
    "uploads": ("upload_id",),
    "models": ("model_id",),
    "versions": ("model_id", "version"),
    "deployments": ("deployment_id",),
}


def _quoted(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _upsert(table: str) -> str:
    columns, key = COLUMNS[table], PRIMARY_KEYS[table]
    values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({_quoted(columns)}) VALUES ({values})\n"
        f"ON CONFLICT ({_quoted(key)}) DO UPDATE SET {updates}"
    )


#: Write a changed row whole: inserted, or replacing the stored one.
UPSERT: dict[str, str] = {table: _upsert(table) for table in PRIMARY_KEYS}

#: The stored rows a poll batch can change (`projections.rows.Wanted`): models by id and
#: the live model of each stream ($2, $3: account ids and model names, pairwise) ...
LOAD_MODELS = f"""
SELECT {_quoted(COLUMNS["models"])} FROM models
WHERE model_id = ANY($1::text[])
   OR (deleted_at IS NULL AND (account_id, model_name) IN (
       SELECT * FROM unnest($2::text[], $3::text[])))
"""
#: ... versions by build job ...
LOAD_VERSIONS = f"""
SELECT {_quoted(COLUMNS["versions"])} FROM versions WHERE job_id = ANY($1::text[])
"""
#: ... deployments by id, with the live deployments of their models and of models $2
#: (activating one replaces the others; deleting a model ends them) ...
LOAD_DEPLOYMENTS = f"""
SELECT {_quoted(COLUMNS["deployments"])} FROM deployments
WHERE deployment_id = ANY($1::text[])
   OR (ended_at IS NULL AND (model_id = ANY($2::text[]) OR model_id IN (
       SELECT model_id FROM deployments WHERE deployment_id = ANY($1::text[]))))
ORDER BY created_at, deployment_id
"""
#: ... and API keys by id.
LOAD_API_KEYS = f"""
SELECT {_quoted(COLUMNS["api_keys"])} FROM api_keys WHERE key_id = ANY($1::text[])
"""

# --- reads for the workers and the CLI -------------------------------------

API_KEY_STATE_BY_HASH = "SELECT key_id, revoked_at FROM api_keys WHERE key_hash = $1"
ACCOUNT = "SELECT * FROM accounts WHERE account_id = $1"
VERSION_BY_JOB = "SELECT * FROM versions WHERE job_id = $1"
VERSION_OF_MODEL = "SELECT * FROM versions WHERE model_id = $1 AND version = $2"
#: The verdict on an event: on its first copy in the log (a re-sent copy is judged apart).
EVENT_VERDICT = (
    'SELECT accepted, reason FROM events WHERE event_id = $1 ORDER BY partition, "offset" LIMIT 1'
)
#: The verdict on the record at one position of the log (a worker acts on that copy only).
VERDICT_AT = 'SELECT accepted FROM events WHERE partition = $1 AND "offset" = $2'

DEPLOYMENT = """
SELECT d.*, v.version_id FROM deployments d
JOIN versions v ON v.model_id = d.model_id AND v.version = d.version
WHERE d.deployment_id = $1
"""

# --- rate limits (not a projection: each API process's spending, shared) -------

#: Add each bucket's spending of this process ($5, at $1) and return every bucket's shared
#: balance: refilled for the time since `at`, rescaled when the key's limit changed (as
#: `intentml.domain.ratelimit.rescale` does), less the spending. A new row starts full less
#: that spending, so on a conflict EXCLUDED.tokens is `per_minute - spent`: the spending is
#: `EXCLUDED.per_minute - EXCLUDED.tokens`. The balance may go negative: requests other
#: processes served in the same second are owed.
SYNC_RATE_BUCKETS = """
INSERT INTO rate_limit_buckets AS b (key_id, kind, per_minute, tokens, at)
SELECT u.key_id, u.kind, u.per_minute, u.per_minute - u.spent, $1
FROM unnest($2::text[], $3::text[], $4::float8[], $5::float8[])
     AS u(key_id, kind, per_minute, spent)
ON CONFLICT (key_id, kind) DO UPDATE SET
    tokens = LEAST(EXCLUDED.per_minute,
                   b.tokens + (EXCLUDED.per_minute - b.per_minute)
                   + GREATEST(EXCLUDED.at - b.at, 0) * EXCLUDED.per_minute / 60)
             - (EXCLUDED.per_minute - EXCLUDED.tokens),
    at = GREATEST(b.at, EXCLUDED.at),
    per_minute = EXCLUDED.per_minute
RETURNING key_id, kind, tokens, at
"""
