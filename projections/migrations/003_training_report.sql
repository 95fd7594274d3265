-- Issue 4: what a build found and decided (target/task/metric with reasons, the search's
-- leaderboard, test evaluation with confusion matrix, data summary, warnings), as the
-- VersionTrained event carries it. NULL for versions trained before the search existed.
ALTER TABLE versions ADD COLUMN report jsonb;
ALTER TABLE versions ADD COLUMN time_budget_s double precision;
