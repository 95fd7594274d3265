-- Issue 5: accounts, and who issued and revoked each key.

-- One row per AccountCreated. Accounts that only have keys from before accounts existed
-- (the first bootstrap key of `default`) get theirs when start-up appends the event.
CREATE TABLE accounts (
    account_id text        PRIMARY KEY,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL
);

ALTER TABLE api_keys ADD COLUMN created_by text NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN revoked_by text;
-- The key's own rate limits ({"management_per_minute", "inference_per_minute"}, a null
-- limit is none); NULL: the platform's defaults.
ALTER TABLE api_keys ADD COLUMN rate_limits jsonb;
-- GET /auth/api-keys lists one account's keys.
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);
