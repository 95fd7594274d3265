-- The full Models API: deployments, retrained versions, filtered listings and logs.

-- Every deployment ever requested; `status` is DEPLOYING, ACTIVE, UNDEPLOYING while it
-- lives, then REPLACED, FAILED, STOPPED or DELETED (the row stays for the history).
CREATE TABLE deployments (
    deployment_id text        PRIMARY KEY,
    model_id      text        NOT NULL REFERENCES models (model_id),
    account_id    text        NOT NULL,
    model_name    text        NOT NULL,
    version       integer     NOT NULL,
    environment   text        NOT NULL,
    replicas      integer     NOT NULL,
    auto_scale    boolean     NOT NULL,
    status        text        NOT NULL,
    error_message text,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    activated_at  timestamptz,
    ended_at      timestamptz
);
CREATE INDEX deployments_model ON deployments (model_id, created_at);

-- How a version came to be, and the search budget it was given.
ALTER TABLE versions ADD COLUMN source text NOT NULL DEFAULT 'create';
ALTER TABLE versions ADD COLUMN max_iterations integer;
ALTER TABLE versions ADD COLUMN created_by text NOT NULL DEFAULT '';

-- Build logs filtered by model.
CREATE INDEX build_logs_model ON build_logs (account_id, model_name, logged_at);
