"""A failed run's advice: the destination column at fault, found from PostgreSQL's error,
the failing row and the destination's types as analytics' catalog has them, and the
migration to write before the rerun (never a bare "resume" that fails again)."""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
import pytest
from dbtools import TestDatabases

from services.reporting.failure_advice import advise
from services.store.catalog import Table, find_table

RERUN = "python run_job.py export-to-pg StatEvent"
DESTINATION = """
CREATE TABLE analytics_raw.advice_target (
  old_id text PRIMARY KEY, source text NOT NULL, source_name varchar(64), note varchar(64),
  hits integer, big bigint
)
"""


@pytest.fixture
def table(dbs: TestDatabases) -> Table:
    dbs.query_analytics(DESTINATION)
    with psycopg.connect(dbs.analytics_url) as conn:
        found = find_table(conn, "analytics_raw", "advice_target")
    assert found is not None
    return found


def _error(dbs: TestDatabases, row: Mapping[str, object]) -> str:
    """The error PostgreSQL itself gives when ``row`` is inserted."""
    names = ", ".join(f'"{n}"' for n in row)
    marks = ", ".join(["%s"] * len(row))
    with psycopg.connect(dbs.analytics_url) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute(
            f"INSERT INTO analytics_raw.advice_target ({names}) VALUES ({marks})",
            list(row.values()),
        )
    return str(caught.value)


def test_a_value_too_long_names_its_column_from_the_row_and_the_types(
    dbs: TestDatabases, table: Table
) -> None:
    # Two varchar(64) columns: only the one whose value is too long is at fault.
    row = {"old_id": "x", "source": "api", "note": "short", "source_name": "a long name " * 8}
    advice = advise(_error(dbs, row), row, table, RERUN)
    assert advice is not None
    assert (advice.column, advice.column_type) == ("source_name", "character varying(64)")
    assert advice.migration == (
        'ALTER TABLE "analytics_raw"."advice_target" ALTER COLUMN "source_name" TYPE text'
        ' USING "source_name"::text;'
    )
    assert advice.rerun == RERUN


def test_a_number_out_of_range_names_its_column(dbs: TestDatabases, table: Table) -> None:
    row = {"old_id": "x", "source": "api", "big": 1, "hits": 2**40}
    advice = advise(_error(dbs, row), row, table, RERUN)
    assert advice is not None and advice.column == "hits"
    assert advice.migration is not None and "TYPE bigint" in advice.migration


def test_a_null_in_a_required_column_is_named_by_postgresql(
    dbs: TestDatabases, table: Table
) -> None:
    row = {"old_id": "x", "source": None}
    advice = advise(_error(dbs, row), row, table, RERUN)
    assert advice is not None and advice.column == "source"
    assert advice.migration == (
        'ALTER TABLE "analytics_raw"."advice_target" ALTER COLUMN "source" DROP NOT NULL;'
    )


def test_an_error_about_something_else_gives_no_advice(table: Table) -> None:
    assert advise("transform failed: KeyError 'x'", {"a": 1}, table, RERUN) is None
