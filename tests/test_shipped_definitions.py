"""The shipped StatEvent and ImportJob definitions, end to end on seeded core data."""

from __future__ import annotations

from typing import Any

from dbtools import TestDatabases, run_cli
from psycopg.rows import dict_row

from jobs.export_to_pg.transforms import stat_event_row
from tools.testdb.seed_core import mutate, seed

IMPORT_JOB_CHECKSUM = (
    """SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t.id)) FROM {} t {}"""
)


def _dicts(url_conn: Any, sql: str) -> list[dict[str, Any]]:
    with url_conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def _expected_stat_events(dbs: TestDatabases) -> dict[str, dict[str, Any]]:
    """What core + the shipped transform say analytics should hold, by old_id."""
    out = (stat_event_row(row) for row in _dicts(dbs.core(), 'SELECT * FROM "StatEvent"'))
    return {row["old_id"]: row for row in out if row is not None}


def _stat_events(dbs: TestDatabases) -> dict[str, dict[str, Any]]:
    rows = _dicts(dbs.analytics(), "SELECT * FROM analytics_raw.stat_event")
    return {row["old_id"]: {k: v for k, v in row.items() if k != "id"} for row in rows}


def _import_jobs_match(dbs: TestDatabases) -> None:
    core = dbs.query_core(
        IMPORT_JOB_CHECKSUM.format('"ImportJob"', 'WHERE "finishedAt" IS NOT NULL')
    )
    analytics = dbs.query_analytics(IMPORT_JOB_CHECKSUM.format("analytics_raw.import_job", ""))
    assert analytics == core
    assert core[0][0] > 0


def _last_reads(dbs: TestDatabases) -> dict[str, int]:
    rows = dbs.query_analytics(
        "SELECT DISTINCT ON (definition) definition, rows_read FROM tablesync.runs"
        " ORDER BY definition, id DESC"
    )
    return dict(rows)


def test_both_definitions_match_core_after_a_full_and_an_incremental_run(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    seed(dbs.core_url, stat_events=500, import_jobs=40)

    code, _, err = run_cli(["export-to-pg", "--all"], env=env)

    assert (code, err) == (0, "")
    assert _stat_events(dbs) == _expected_stat_events(dbs)
    _import_jobs_match(dbs)

    changed = mutate(dbs.core_url, update_fraction=0.04, insert_count=15)
    code, _, err = run_cli(["export-to-pg", "--all"], env=env)

    assert (code, err) == (0, "")
    stat_events = changed["stat_events_updated"] + changed["stat_events_inserted"]
    assert _last_reads(dbs) == {
        "StatEvent": stat_events,
        "StatEventSQL": stat_events,  # the same rows, read or left out by its where
        "ImportJob": changed["import_jobs_finished"],
    }
    assert _stat_events(dbs) == _expected_stat_events(dbs)
    _import_jobs_match(dbs)


def test_the_stat_event_transform() -> None:
    row = {
        "id": "se-1",
        "createdAt": None,
        "updatedAt": None,
        "type": "click",
        "source": "publisher",
        "source_id": "s",
        "source_name": "n",
        "from_publisher_id": "a",
        "to_publisher_id": "b",
        "mission_id": None,
        "host": "h",
        "user": "u",
        "is_bot": False,
        "tags": None,
        "custom_attributes": None,
    }
    out = stat_event_row(row)
    assert out is not None
    assert (out["old_id"], out["source"], out["to_partner_id"], out["is_widget"]) == (
        "se-1",
        "api",
        "b",
        False,
    )
    widget = stat_event_row({**row, "source": "widget"})
    assert widget is not None and widget["is_widget"] is True
    assert stat_event_row({**row, "source_id": None}) is None
