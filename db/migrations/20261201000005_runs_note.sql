-- migrate:up
-- What an operator's action did (a replay, a reset, a full refresh), kept apart
-- from error_text, which only ever holds why a run failed.
ALTER TABLE tablesync.runs ADD COLUMN note text;

-- migrate:down
ALTER TABLE tablesync.runs DROP COLUMN note;
