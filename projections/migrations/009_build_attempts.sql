-- Issue 12: how many times a version's build was started. A second start means the
-- worker of the first was lost mid-build and the redelivered request started it again;
-- the status shows the attempt, and the progress of the lost one is not kept.
ALTER TABLE versions ADD COLUMN build_attempts integer NOT NULL DEFAULT 0;
