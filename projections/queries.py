"""All SQL of the main projection: the writes of the projector and the reads of the API."""

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
ARCHIVE_EVENT = """
INSERT INTO events (partition, "offset", event_id, type, account_id, model_name, occurred_at,
                    actor, hash, prev_hash, accepted, reason, value)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""

# --- read-model writes, one per accepted event type ------------------------

INSERT_API_KEY = """
INSERT INTO api_keys (key_id, account_id, key_hash, scope, name, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
"""
INSERT_UPLOAD = """
INSERT INTO uploads (upload_id, account_id, filename, format, rows, columns, size_bytes, sha256,
                     created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""
INSERT_MODEL = """
INSERT INTO models (model_id, account_id, model_name, name, intent, description, tags, dataset_id,
                    input_schema, output_schema, latest_version, created_by, created_at,
                    updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
"""
INSERT_VERSION = """
INSERT INTO versions (model_id, version, version_id, job_id, account_id, model_name, status,
                      build_progress, upload_id, intent, target, target_reason, requested_metric,
                      task, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', 0, $7, $8, $9, $10, $11, $12, $13, $13)
"""
VERSION_BUILDING = """
UPDATE versions SET status = 'BUILDING', build_progress = GREATEST(build_progress, $3),
                    updated_at = $4
WHERE job_id = $1 AND version = $2
"""
VERSION_TRAINED = """
UPDATE versions SET build_progress = GREATEST(build_progress, 95), task = $3, metric_name = $4,
       metric_value = $5, metrics = $6, feature_importance = $7, features = $8,
       dropped_columns = $9, rows_used = $10, training_seconds = $11, artifact = $12,
       input_schema = $13, output_schema = $14, updated_at = $15
WHERE job_id = $1 AND version = $2
"""
VERSION_READY = """
UPDATE versions SET status = 'READY', build_progress = 100, updated_at = $3
WHERE job_id = $1 AND version = $2
"""
VERSION_FAILED = """
UPDATE versions SET status = 'ERROR', error_code = $3, error_message = $4, updated_at = $5
WHERE job_id = $1 AND version = $2
"""
TOUCH_MODEL = "UPDATE models SET updated_at = $2 WHERE model_id = $1"
INSERT_BUILD_LOG = """
INSERT INTO build_logs (partition, "offset", line, job_id, account_id, model_name, version,
                        logged_at, level, message)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""

# --- reads for the API and the workers -----------------------------------

API_KEY_BY_HASH = """
SELECT key_id, account_id, scope FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL
"""
UPLOAD = "SELECT * FROM uploads WHERE account_id = $1 AND upload_id = $2"
MODEL_BY_NAME = """
SELECT * FROM models WHERE account_id = $1 AND model_name = $2 AND deleted_at IS NULL
"""
VERSION = """
SELECT v.* FROM versions v JOIN models m USING (model_id)
WHERE m.account_id = $1 AND m.model_name = $2 AND m.deleted_at IS NULL AND v.version = $3
"""
VERSION_BY_JOB = "SELECT * FROM versions WHERE job_id = $1"
EVENT_VERDICT = "SELECT accepted, reason FROM events WHERE event_id = $1"
LIST_MODELS = """
SELECT m.*, v.version, v.status, v.metric_name, v.metric_value, v.build_progress
FROM models m JOIN versions v ON v.model_id = m.model_id AND v.version = m.latest_version
WHERE m.account_id = $1 AND m.deleted_at IS NULL
ORDER BY m.created_at DESC, m.model_name
"""
