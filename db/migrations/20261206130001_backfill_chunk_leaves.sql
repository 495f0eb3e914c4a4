-- migrate:up
-- A partitioned source is backfilled leaf by leaf (services/sync/backfill.py): each
-- chunk is a block range of one leaf partition's heap. The leaf is named by its oid
-- in core, so that one renamed while the backfill runs is still found (one dropped or
-- detached is not, and its chunk reads nothing), and by the schema and name it had
-- when the backfill was planned, for people reading this table. NULL for a chunk of
-- the source's own heap (a table that is not partitioned).
ALTER TABLE tablesync.backfill_chunks
  ADD COLUMN leaf_oid bigint,
  ADD COLUMN leaf_schema text,
  ADD COLUMN leaf_name text;

-- migrate:down
ALTER TABLE tablesync.backfill_chunks
  DROP COLUMN leaf_name,
  DROP COLUMN leaf_schema,
  DROP COLUMN leaf_oid;
