-- migrate:up
-- Contract rule 16: a tie-breaker (cursor.id_field) may be several columns. A position
-- of such a definition keeps their values here, in id_field order, with cursor_id NULL;
-- a one-column tie-breaker keeps using cursor_id, so positions written by earlier
-- releases read as they were written (services/base/position.py).
ALTER TABLE tablesync.positions ADD COLUMN cursor_ids text[];
-- The same for the position a backfill hands over to the incremental runs.
ALTER TABLE tablesync.backfills ADD COLUMN handover_ids text[];

-- migrate:down
ALTER TABLE tablesync.backfills DROP COLUMN handover_ids;
ALTER TABLE tablesync.positions DROP COLUMN cursor_ids;
