-- migrate:up
-- Where a run was started from: 'cli' (the command line, cron included) unless the
-- runner's TABLESYNC_ORIGIN said otherwise ('console' for runs the web console starts,
-- or an operator's own label such as 'cronjob').
ALTER TABLE tablesync.runs ADD COLUMN origin text NOT NULL DEFAULT 'cli';

-- The console's metrics total every run of a definition by status at each scrape: this
-- index answers that from the index alone, without reading the records' wide columns.
CREATE INDEX runs_totals_idx ON tablesync.runs (job, definition, status)
  INCLUDE (rows_read, rows_created, rows_updated, rows_skipped, rows_deleted, rows_errors);

-- Every run of every definition, newest first (the console's and the API's run list).
CREATE INDEX runs_started_at_idx ON tablesync.runs (started_at DESC, id DESC);

-- migrate:down
DROP INDEX tablesync.runs_started_at_idx;
DROP INDEX tablesync.runs_totals_idx;
ALTER TABLE tablesync.runs DROP COLUMN origin;
