"""The dbmate migrations in db/migrations, run with the real dbmate binary."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from dbtools import MIGRATIONS_DIR, query, run_dbmate

from services.base.position import Position, load_position, save_position
from services.store.chunks import load_backfill

RUNNER_TABLES = {
    ("tablesync", "positions"),
    ("tablesync", "runs"),
    ("tablesync", "backfills"),
    ("tablesync", "backfill_chunks"),
    ("tablesync", "follower_sessions"),
    ("tablesync", "schedule_claims"),
}
DESTINATION_TABLES = {
    ("analytics_raw", "stat_event"),
    ("analytics_raw", "stat_event_sql"),
    ("analytics_raw", "import_job"),
}


def _tables(url: str) -> set[tuple[str, str]]:
    rows = query(
        url,
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema IN ('tablesync', 'analytics_raw')",
    )
    return {(schema, name) for schema, name in rows}


def _unique_index_columns(url: str, schema: str, table: str) -> set[tuple[str, ...]]:
    """The column lists of every unique index on schema.table."""
    rows = query(
        url,
        """
        SELECT array_agg(a.attname::text ORDER BY k.ord)
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
        WHERE i.indisunique AND n.nspname = %s AND c.relname = %s
        GROUP BY i.indexrelid
        """,
        (schema, table),
    )
    return {tuple(columns) for (columns,) in rows}


def test_up_on_empty_database_creates_runner_and_destination_tables(empty_database: str) -> None:
    run_dbmate(empty_database, "up")

    assert _tables(empty_database) == RUNNER_TABLES | DESTINATION_TABLES


def test_destination_tables_have_unique_indexes_on_their_conflict_columns(
    empty_database: str,
) -> None:
    run_dbmate(empty_database, "up")

    assert ("old_id",) in _unique_index_columns(empty_database, "analytics_raw", "stat_event")
    assert ("id",) in _unique_index_columns(empty_database, "analytics_raw", "import_job")
    assert ("job", "definition") in _unique_index_columns(empty_database, "tablesync", "positions")


def test_import_job_destination_mirrors_core_import_job_columns(empty_database: str) -> None:
    run_dbmate(empty_database, "up")

    columns = query(
        empty_database,
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'analytics_raw' AND table_name = 'import_job'"
        " ORDER BY ordinal_position",
    )
    assert columns == [
        ("id", "uuid"),
        ("source", "text"),
        ("status", "text"),
        ("runAt", "timestamp with time zone"),
        ("stats", "jsonb"),
        ("errorText", "text"),
        ("startedAt", "timestamp with time zone"),
        ("finishedAt", "timestamp with time zone"),
        ("nbCreated", "integer"),
        ("nbUpdated", "integer"),
        ("nbSkipped", "integer"),
        ("nbErrors", "integer"),
    ]


def test_every_migration_rolls_back_and_reapplies(empty_database: str) -> None:
    run_dbmate(empty_database, "up")

    for _ in sorted(MIGRATIONS_DIR.glob("*.sql")):
        run_dbmate(empty_database, "down")
    assert _tables(empty_database) == set()
    assert (
        query(
            empty_database,
            "SELECT nspname FROM pg_namespace WHERE nspname = 'tablesync'",
        )
        == []
    )

    run_dbmate(empty_database, "up")
    assert _tables(empty_database) == RUNNER_TABLES | DESTINATION_TABLES


def test_status_reports_nothing_pending_after_up(empty_database: str) -> None:
    run_dbmate(empty_database, "up")

    status = run_dbmate(empty_database, "status", "--exit-code")

    assert "Pending: 0" in status.stdout
    assert "[ ]" not in status.stdout


def test_runs_status_check_rejects_unknown_status(empty_database: str) -> None:
    run_dbmate(empty_database, "up")

    with pytest.raises(psycopg.errors.CheckViolation):
        query(
            empty_database,
            "INSERT INTO tablesync.runs (job, definition, status) VALUES ('j', 'd', 'bogus')",
        )
    for status in ("running", "succeeded", "failed", "abandoned", "cancelled"):
        query(
            empty_database,
            "INSERT INTO tablesync.runs (job, definition, status) VALUES ('j', 'd', %s)",
            (status,),
        )


# The migrations of the first release; a database migrated by it must upgrade intact.
FIRST_RELEASE = (
    "20261123000001_tablesync_runner.sql",
    "20261123000002_analytics_raw_stat_event.sql",
    "20261123000003_analytics_raw_import_job.sql",
)


def test_a_database_of_the_first_release_upgrades_with_its_positions_and_runs(
    empty_database: str, tmp_path: Path
) -> None:
    old = tmp_path / "migrations"
    old.mkdir()
    for name in FIRST_RELEASE:
        shutil.copy(MIGRATIONS_DIR / name, old / name)
    run_dbmate(empty_database, "up", migrations_dir=old)
    query(
        empty_database,
        "INSERT INTO tablesync.positions (job, definition, cursor_value, cursor_id)"
        " VALUES ('export-to-pg', 'StatEvent', '2026-11-30 10:00:00+00', '42')",
    )
    query(
        empty_database,
        "INSERT INTO tablesync.runs (job, definition, status, rows_read, rows_created,"
        " cursor_after, error_text) VALUES ('export-to-pg', 'StatEvent', 'failed', 7, 5,"
        ' \'{"value": "2026-11-30", "id": "42"}\', \'boom\')',
    )
    before_runs = query(empty_database, "SELECT * FROM tablesync.runs ORDER BY id")

    run_dbmate(empty_database, "up")

    assert query(
        empty_database, "SELECT job, definition, cursor_value, cursor_id FROM tablesync.positions"
    ) == [("export-to-pg", "StatEvent", "2026-11-30 10:00:00+00", "42")]
    after_runs = query(empty_database, "SELECT * FROM tablesync.runs ORDER BY id")
    # Added columns come last; the old ones keep their values.
    assert [row[: len(before_runs[0])] for row in after_runs] == before_runs
    # 20261201000005: an operator's note has a column of its own, empty on old records.
    assert query(
        empty_database,
        "SELECT data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = 'tablesync' AND table_name = 'runs' AND column_name = 'note'",
    ) == [("text", "YES")]
    assert query(empty_database, "SELECT note, error_text FROM tablesync.runs") == [(None, "boom")]
    # 20261201000004: where each run came from; the first release's came from the CLI.
    assert query(empty_database, "SELECT origin FROM tablesync.runs") == [("cli",)]
    indexes = query(
        empty_database, "SELECT indexname FROM pg_indexes WHERE tablename = 'runs' ORDER BY 1"
    )
    assert {"runs_totals_idx", "runs_started_at_idx"} <= {name for (name,) in indexes}
    # 20261201000002: the rows a run deleted; an old run deleted none.
    assert query(empty_database, "SELECT rows_deleted FROM tablesync.runs") == [(0,)]
    assert "Pending: 0" in run_dbmate(empty_database, "status").stdout
    # 20261201000001: an old run has resumed 0 times; a stopped run can be recorded.
    assert query(empty_database, "SELECT resumes FROM tablesync.runs") == [(0,)]
    query(
        empty_database,
        "INSERT INTO tablesync.runs (job, definition, status, resumes)"
        " VALUES ('export-to-pg', 'StatEvent', 'cancelled', 2)",
    )
    # The backfill tables (20261201000003) arrive empty, with the columns the runner uses.
    assert _columns(empty_database, "backfill_chunks") >= {
        "job",
        "definition",
        "chunk",
        "first_page",
        "end_page",
        "done_at",
        "rows_read",
        "run_id",
    }
    assert _columns(empty_database, "backfills") >= {
        "handover_value",
        "handover_id",
        "source_pages",
        "chunk_pages",
        "chunks_total",
        "into_empty",
        "finished_at",
    }
    assert query(empty_database, "SELECT count(*) FROM tablesync.backfills") == [(0,)]


def _columns(url: str, table: str) -> set[str]:
    rows = query(
        url,
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'tablesync' AND table_name = %s",
        (table,),
    )
    return {name for (name,) in rows}


# The first migration of composite tie-breakers (contract rule 16).
COMPOSITE_TIE_BREAKERS = "20261206110001_composite_tie_breakers.sql"


def test_positions_and_records_of_the_previous_release_read_the_same_after_the_upgrade(
    empty_database: str, tmp_path: Path
) -> None:
    """A database migrated by everything but composite tie-breakers, holding a position
    with a one-column id, one without id, run records and a backfill's hand-over, upgrades
    with each read as it was written; a composite position is then stored beside them."""
    old = tmp_path / "migrations"
    old.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name != COMPOSITE_TIE_BREAKERS:
            shutil.copy(path, old / path.name)
    run_dbmate(empty_database, "up", migrations_dir=old)
    query(
        empty_database,
        "INSERT INTO tablesync.positions (job, definition, cursor_value, cursor_id) VALUES"
        " ('export-to-pg', 'StatEvent', '2026-11-30 10:00:00+00', 'se-42'),"
        " ('export-to-pg', 'NoId', '17', NULL)",
    )
    query(
        empty_database,
        "INSERT INTO tablesync.runs (job, definition, status, cursor_before, cursor_after)"
        " VALUES ('export-to-pg', 'StatEvent', 'succeeded', '{\"value\": \"2026-11-29\","
        ' "id": "se-1"}\', \'{"value": "2026-11-30 10:00:00+00", "id": "se-42"}\')',
    )
    query(
        empty_database,
        "INSERT INTO tablesync.backfills (job, definition, handover_value, handover_id,"
        " source_pages, chunk_pages, chunks_total, into_empty)"
        " VALUES ('export-to-pg', 'StatEvent', '2026-11-30', 'se-7', 10, 5, 2, true)",
    )
    before_runs = query(empty_database, "SELECT * FROM tablesync.runs ORDER BY id")

    run_dbmate(empty_database, "up")

    assert query(empty_database, "SELECT * FROM tablesync.runs ORDER BY id") == before_runs
    with psycopg.connect(empty_database, autocommit=True) as conn:
        assert load_position(conn, "export-to-pg", "StatEvent") == Position(
            "2026-11-30 10:00:00+00", ("se-42",)
        )
        assert load_position(conn, "export-to-pg", "NoId") == Position("17")
        backfill = load_backfill(conn, "export-to-pg", "StatEvent")
        assert backfill is not None and backfill.handover == Position("2026-11-30", ("se-7",))
        record = query(empty_database, "SELECT cursor_after FROM tablesync.runs")[0][0]
        assert Position.from_dict(record) == Position("2026-11-30 10:00:00+00", ("se-42",))
        composite = Position("2026-12-06 00:00:00+00", ("7", 'a, "quoted" {b}'))
        save_position(conn, "export-to-pg", "FilmActor", composite)
        assert load_position(conn, "export-to-pg", "FilmActor") == composite
        assert Position.from_dict(composite.to_dict()) == composite
    # The one-column position is where the previous release reads it; the new column empty.
    assert query(
        empty_database,
        "SELECT definition, cursor_id, cursor_ids FROM tablesync.positions ORDER BY definition",
    ) == [
        ("FilmActor", None, ["7", 'a, "quoted" {b}']),
        ("NoId", None, None),
        ("StatEvent", "se-42", None),
    ]
