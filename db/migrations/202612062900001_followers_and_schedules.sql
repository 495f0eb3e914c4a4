-- migrate:up
-- One row per follower session of a definition (`--follow`, services/follow/): what it is
-- doing now, for --status, the console and /metrics. Its rows are counted in its run
-- records (services/follow/records.py); this table holds only the live figures, updated
-- at the end of every cycle, so an idle cycle writes one row here and none in runs.
CREATE TABLE tablesync.follower_sessions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job text NOT NULL,
  definition text NOT NULL,
  host text NOT NULL,
  pid integer NOT NULL,
  every_s double precision NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  -- following, retrying (a cycle failed; backing off), stopped (ended: a signal, or a
  -- definition problem: error_text says which).
  state text NOT NULL CHECK (state IN ('following', 'retrying', 'stopped')),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  cycles bigint NOT NULL DEFAULT 0,
  last_cycle_at timestamptz,
  last_cycle_rows bigint NOT NULL DEFAULT 0,
  last_cycle_s double precision,
  rows_read bigint NOT NULL DEFAULT 0,
  run_id bigint,
  error_text text
);
CREATE INDEX follower_sessions_definition_idx
  ON tablesync.follower_sessions (job, definition, id DESC);

-- A definition's `schedule` is run by `serve`; several consoles may be up. The first
-- to insert (definition, due time) runs it, the others find the key taken: a
-- definition runs once per due time, whichever console is first.
CREATE TABLE tablesync.schedule_claims (
  job text NOT NULL,
  definition text NOT NULL,
  due_at timestamptz NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  host text NOT NULL,
  pid integer NOT NULL,
  -- The run it started; NULL when the lock was held (a follower or a cron run had it).
  run_id bigint,
  outcome text,
  PRIMARY KEY (job, definition, due_at)
);

-- migrate:down
DROP TABLE tablesync.schedule_claims;
DROP TABLE tablesync.follower_sessions;
