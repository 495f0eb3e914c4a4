-- migrate:up
-- A backfill: an initial load (or --reset, or a --full-refresh build) that reads
-- the source heap in block ranges instead of cursor order (services/sync/backfill.py).
-- One row per (job, definition): the latest backfill, kept once done for --status.
CREATE TABLE tablesync.backfills (
  job text NOT NULL,
  definition text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  -- Where the incremental runs take over once every chunk is done: just below the
  -- watermark fixed when the backfill was planned, so they re-read every row that
  -- could have changed since (text form of the cursor value, cast back when read).
  handover_value text,
  handover_id text,
  source_pages bigint NOT NULL,
  chunk_pages bigint NOT NULL,
  chunks_total integer NOT NULL,
  -- The destination held no row when the backfill was planned: chunks may be copied
  -- straight into it (the fast path), whichever runner takes them.
  into_empty boolean NOT NULL,
  PRIMARY KEY (job, definition)
);

-- One row per chunk: a range of heap blocks [first_page, end_page) of the source;
-- end_page NULL reads to the end of the heap. done_at is set in the same analytics
-- transaction as the chunk's rows, so a chunk is done exactly when its rows are in.
CREATE TABLE tablesync.backfill_chunks (
  job text NOT NULL,
  definition text NOT NULL,
  chunk integer NOT NULL,
  first_page bigint NOT NULL,
  end_page bigint,
  done_at timestamptz,
  rows_read bigint NOT NULL DEFAULT 0,
  run_id bigint,
  PRIMARY KEY (job, definition, chunk),
  FOREIGN KEY (job, definition) REFERENCES tablesync.backfills (job, definition)
    ON DELETE CASCADE
);

-- migrate:down
DROP TABLE tablesync.backfill_chunks;
DROP TABLE tablesync.backfills;
