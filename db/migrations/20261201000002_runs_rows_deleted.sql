-- migrate:up
-- Rows a run deleted from its destination: soft deletes followed by a run,
-- or extra rows removed by `--verify --repair`. Old runs deleted nothing.
ALTER TABLE tablesync.runs ADD COLUMN rows_deleted bigint NOT NULL DEFAULT 0;

-- migrate:down
ALTER TABLE tablesync.runs DROP COLUMN rows_deleted;
