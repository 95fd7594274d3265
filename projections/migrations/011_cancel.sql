-- Issue 15: a user may cancel a version's build. Who asked, when and why are kept from the
-- request until the trainer reports the build stopped (CANCELLED): a trainer that gets
-- the partition meanwhile ends such a build instead of building it again.
ALTER TABLE versions
    ADD COLUMN cancel_requested_at timestamptz,
    ADD COLUMN cancel_requested_by text,
    ADD COLUMN cancel_reason text;
