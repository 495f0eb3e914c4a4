"""StatEventSQL, the shipped StatEvent transform written as a select and a where
(docs/select.md), gives the destination rows StatEvent's Python transform gives."""

from __future__ import annotations

import json
from typing import Any

from dbtools import TestDatabases, run_cli
from psycopg.rows import dict_row

from jobs.export_to_pg.config import DEFINITIONS
from tools.testdb.seed_core import mutate, seed

# Rows the seed does not make: empty strings where the transform tests truthiness, NULL
# in every nullable column, both renamed sources, empty arrays and JSON.
EDGES = """
INSERT INTO "StatEvent" ("id", "type", "source", "source_id", "source_name",
  "from_publisher_id", "to_publisher_id", "mission_id", "host", "user", "is_bot", "tags",
  "custom_attributes")
VALUES
  ('edge-empty-source-id', 'click', 'api', '', 'n', 'f', 't', 'm', 'h', 'u', false, '{}', '{}'),
  ('edge-null-source-id', 'click', 'api', NULL, NULL, NULL, NULL, NULL, NULL, NULL, true,
   NULL, NULL),
  ('edge-publisher', 'print', 'publisher', 's', '', '', '', '', '', '', false, '{""}', 'null'),
  ('edge-widget', 'apply', 'widget', ' ', NULL, NULL, NULL, NULL, NULL, NULL, false,
   '{a,NULL}', '{"a": [1, 2.50, null]}'),
  ('edge-nulls', 'account', 'seo', 'x', NULL, NULL, NULL, NULL, NULL, NULL, false, NULL, NULL)
"""
COLUMNS = (
    "old_id, created_at, updated_at, type, source, source_id, source_name, from_partner_id,"
    ' to_partner_id, mission_id, host, "user", is_bot, is_widget, tags, custom_attributes::text'
)


def rows(dbs: TestDatabases, table: str) -> list[dict[str, Any]]:
    with dbs.analytics().cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {COLUMNS} FROM analytics_raw.{table} ORDER BY old_id".encode())
        return list(cur.fetchall())


def counts(env: dict[str, str]) -> dict[str, dict[str, int]]:
    code, out, err = run_cli(["export-to-pg", "--json", "StatEvent", "StatEventSQL"], env=env)
    assert code == 0, err
    return {r["definition"]: r["counts"] for r in json.loads(out)}


def test_stat_event_sql_writes_what_stat_event_writes(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    assert DEFINITIONS["StatEventSQL"].select is not None
    seed(dbs.core_url, stat_events=400, import_jobs=0)
    dbs.query_core(EDGES)

    first = counts(env)
    assert first["StatEventSQL"] == first["StatEvent"]
    assert first["StatEvent"]["skipped"] > 2  # the NULL and empty source_id rows at least
    sql_rows, python_rows = rows(dbs, "stat_event_sql"), rows(dbs, "stat_event")
    assert sql_rows == python_rows
    edges = {r["old_id"]: r for r in sql_rows if r["old_id"].startswith("edge-")}
    assert set(edges) == {"edge-publisher", "edge-widget", "edge-nulls"}
    assert (edges["edge-publisher"]["source"], edges["edge-publisher"]["is_widget"]) == (
        "api",
        False,
    )
    assert edges["edge-widget"]["is_widget"] is True
    # JSON null reaches the Python transform as None, written as NULL: the select does too.
    assert edges["edge-publisher"]["custom_attributes"] is None

    mutate(dbs.core_url, update_fraction=0.1, insert_count=20)
    dbs.query_core("""UPDATE "StatEvent" SET "source_id" = '', "updatedAt" = now()
                      WHERE "id" = 'edge-nulls'""")
    again = counts(env)
    assert again["StatEventSQL"] == again["StatEvent"]
    assert rows(dbs, "stat_event_sql") == rows(dbs, "stat_event")
    code, out, err = run_cli(["export-to-pg", "--verify", "StatEventSQL"], env=env)
    assert code == 0, out + err
    assert "analytics matches core" in out
