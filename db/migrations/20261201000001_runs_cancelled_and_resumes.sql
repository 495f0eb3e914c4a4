-- migrate:up
-- Contract rule 13: a run stopped by SIGTERM or SIGINT is recorded 'cancelled'.
ALTER TABLE tablesync.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE tablesync.runs ADD CONSTRAINT runs_status_check
  CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned', 'cancelled'));
-- How many times the run reconnected after a lost connection and resumed from its
-- last committed batch (TABLESYNC_RUN_RETRIES).
ALTER TABLE tablesync.runs ADD COLUMN resumes integer NOT NULL DEFAULT 0;

-- migrate:down
ALTER TABLE tablesync.runs DROP COLUMN resumes;
UPDATE tablesync.runs SET status = 'abandoned' WHERE status = 'cancelled';
ALTER TABLE tablesync.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE tablesync.runs ADD CONSTRAINT runs_status_check
  CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned'));
