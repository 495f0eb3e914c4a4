-- migrate:up
-- A leaf partition's heap size in blocks when its backfill was planned, on each of its
-- chunks: the last chunk of a leaf reads to the leaf's end (end_page NULL), and the
-- progress of a backfill counts it up to there, not up to the sum of every leaf's
-- blocks (backfills.source_pages). NULL for a chunk of the source's own heap.
ALTER TABLE tablesync.backfill_chunks ADD COLUMN leaf_pages bigint;

-- migrate:down
ALTER TABLE tablesync.backfill_chunks DROP COLUMN leaf_pages;
