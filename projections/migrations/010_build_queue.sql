-- Issue 15: where each queued build stands. Not a read model of the log: each trainer
-- writes the builds it holds (replacing its own rows whenever its queue changes), and
-- the status of a PENDING version shows its position and why it waits. A trainer's rows
-- go when it starts again; a dead trainer's stay until its builds are started elsewhere
-- (their status is then no longer PENDING, and the rows are not shown).
CREATE TABLE build_queue (
    job_id     text        PRIMARY KEY,
    trainer    text        NOT NULL,
    position   integer     NOT NULL,
    reason     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX build_queue_trainer ON build_queue (trainer);
