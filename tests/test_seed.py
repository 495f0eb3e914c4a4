"""tools/testdb/seed_core.py: deterministic, edge-case-rich sample data for core."""

from __future__ import annotations

from typing import Any

from dbtools import PgServer, TestDatabases, query, unique_db_name

from tools.testdb.core_schema import apply_core_schema
from tools.testdb.seed_core import mutate, seed

CHECKSUMS = {
    "StatEvent": """SELECT md5(string_agg(t::text, ',' ORDER BY t."id")) FROM "StatEvent" t""",
    "ImportJob": """SELECT md5(string_agg(t::text, ',' ORDER BY t."id")) FROM "ImportJob" t""",
}


def _checksums(url: str) -> dict[str, Any]:
    return {table: query(url, sql)[0][0] for table, sql in CHECKSUMS.items()}


def _one(dbs: TestDatabases, sql: str) -> Any:
    return dbs.query_core(sql)[0][0]


def test_same_seed_and_size_give_identical_rows(dbs: TestDatabases, pg_server: PgServer) -> None:
    other = unique_db_name("core_other")
    other_url = pg_server.create_database(other)
    try:
        apply_core_schema(other_url)
        seed(dbs.core_url, stat_events=2_000, import_jobs=50)
        seed(other_url, stat_events=2_000, import_jobs=50)

        assert _checksums(dbs.core_url) == _checksums(other_url)
        assert None not in _checksums(dbs.core_url).values()
    finally:
        pg_server.drop_database(other)


def test_a_different_seed_gives_different_rows(dbs: TestDatabases, pg_server: PgServer) -> None:
    other = unique_db_name("core_other")
    other_url = pg_server.create_database(other)
    try:
        apply_core_schema(other_url)
        seed(dbs.core_url, stat_events=500, import_jobs=20, seed=1)
        seed(other_url, stat_events=500, import_jobs=20, seed=2)

        assert _checksums(dbs.core_url) != _checksums(other_url)
    finally:
        pg_server.drop_database(other)


def test_seed_loads_the_requested_counts_with_the_edge_cases(dbs: TestDatabases) -> None:
    seed(dbs.core_url, stat_events=3_000, import_jobs=200)

    assert _one(dbs, 'SELECT count(*) FROM "StatEvent"') == 3_000
    assert _one(dbs, 'SELECT count(*) FROM "ImportJob"') == 200
    assert _one(dbs, """SELECT min("id") FROM "StatEvent" """) == "se-000000000"
    # Ties on the cursor column: about ten rows per "updatedAt" value.
    assert _one(dbs, 'SELECT count(DISTINCT "updatedAt") FROM "StatEvent"') == 300
    assert 50 < _one(dbs, 'SELECT count(*) FROM "StatEvent" WHERE "source_id" IS NULL') < 300
    assert _one(dbs, """SELECT count(*) FROM "StatEvent" WHERE "source" = 'publisher'""") > 0
    assert _one(dbs, """SELECT count(*) FROM "StatEvent" WHERE "source" = 'widget'""") > 0
    assert _one(dbs, """SELECT count(*) FROM "StatEvent" WHERE "host" ~ E'[\\n"'']'""") > 0
    assert _one(dbs, """SELECT count(*) FROM "StatEvent" WHERE "custom_attributes" ? 'n'""") > 0
    assert _one(dbs, """SELECT count(*) FROM "StatEvent" WHERE cardinality("tags") > 1""") > 0
    running = _one(dbs, 'SELECT count(*) FROM "ImportJob" WHERE "finishedAt" IS NULL')
    assert 5 <= running <= 40
    assert _one(dbs, """SELECT count(*) FROM "ImportJob" WHERE "status" = 'running'""") == running


def test_mutate_changes_exactly_the_counts_it_reports(dbs: TestDatabases) -> None:
    seed(dbs.core_url, stat_events=2_000, import_jobs=100)
    before = dbs.query_core("""SELECT "id", "updatedAt" FROM "StatEvent" """)
    running_before = _one(dbs, 'SELECT count(*) FROM "ImportJob" WHERE "finishedAt" IS NULL')

    counts = mutate(dbs.core_url, update_fraction=0.05, insert_count=30)

    assert counts == {
        "stat_events_updated": 100,
        "stat_events_inserted": 30,
        "import_jobs_finished": round(running_before * 0.5),
    }
    after = dict(dbs.query_core("""SELECT "id", "updatedAt" FROM "StatEvent" """))
    changed = sum(1 for id_, updated_at in before if after.pop(id_) != updated_at)
    assert changed == 100
    assert len(after) == 30  # the new rows, numbered after the highest existing id
    assert min(after) == "se-000002000"
    running_after = _one(dbs, 'SELECT count(*) FROM "ImportJob" WHERE "finishedAt" IS NULL')
    assert running_before - running_after == counts["import_jobs_finished"]


def test_mutate_twice_never_reuses_ids(dbs: TestDatabases) -> None:
    seed(dbs.core_url, stat_events=100, import_jobs=10)

    mutate(dbs.core_url, update_fraction=0.1, insert_count=5)
    mutate(dbs.core_url, update_fraction=0.1, insert_count=5, seed=44)

    assert _one(dbs, 'SELECT count(*) FROM "StatEvent"') == 110
