-- migrate:up
CREATE SCHEMA tablesync;

-- The saved cursor position of each (job, definition): the text form of the
-- typed cursor value (cast back to the source column's type when read) and
-- the tie-breaker id. NULLs mean "from the beginning".
CREATE TABLE tablesync.positions (
  job text NOT NULL,
  definition text NOT NULL,
  cursor_value text NULL,
  cursor_id text NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job, definition)
);

-- One record per run of a definition (an enriched ImportJob).
CREATE TABLE tablesync.runs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job text NOT NULL,
  definition text NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  rows_read bigint NOT NULL DEFAULT 0,
  rows_created bigint NOT NULL DEFAULT 0,
  rows_updated bigint NOT NULL DEFAULT 0,
  rows_skipped bigint NOT NULL DEFAULT 0,
  rows_errors bigint NOT NULL DEFAULT 0,
  rows_null_cursor bigint NOT NULL DEFAULT 0,
  cursor_before jsonb,
  cursor_after jsonb,
  error_text text,
  host text,
  pid integer,
  command text
);
CREATE INDEX runs_job_definition_started_at_idx
  ON tablesync.runs (job, definition, started_at DESC);

-- migrate:down
DROP TABLE tablesync.runs;
DROP TABLE tablesync.positions;
DROP SCHEMA tablesync;
