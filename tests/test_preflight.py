"""Guarantee 11 (docs/guarantees.md): a definition that does not match the databases exits 2
and writes nothing but its refused run's record (contract rule 18): ``failed``, its
message, the position unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from dbtools import TestDatabases
from synctools import definition, on_both, runs, sync

from services import ExportDefinition
from services.base.errors import EXIT_CONFIGURATION, PreflightError
from services.store.runs import REFUSED_NOTE


@pytest.fixture
def tables(dbs: TestDatabases) -> TestDatabases:
    """A matching pair of tables ``t`` with rows waiting in core."""
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, n int, v text)")
    dbs.query_core("INSERT INTO t SELECT g, g, 'v' FROM generate_series(1, 5) g")
    return dbs


def _refused(dbs: TestDatabases, **kwargs: Any) -> str:
    """Run the definition, expect exit 2, no row or position written and one refused run's
    record; return the message."""
    with pytest.raises(PreflightError) as caught:
        sync(dbs, definition(**{"table": "t", "cursor": "n", **kwargs}))
    assert caught.value.exit_code == EXIT_CONFIGURATION
    _assert_refusal_recorded(dbs, caught.value)
    assert dbs.query_analytics("SELECT count(*) FROM tablesync.positions") == [(0,)]
    if dbs.query_analytics("SELECT to_regclass('public.t') IS NOT NULL") == [(True,)]:
        assert dbs.query_analytics("SELECT count(*) FROM t") == [(0,)]
    return str(caught.value)


def _assert_refusal_recorded(dbs: TestDatabases, error: PreflightError) -> None:
    """One ``failed`` record holding the message, the position as it was, nothing read;
    the error carries the same as its result (for Slack and the summary line)."""
    [record] = runs(dbs)
    assert record["status"] == "failed"
    assert record["error_text"] == str(error)
    assert record["note"] == REFUSED_NOTE
    assert record["finished_at"] is not None
    assert record["cursor_before"] == record["cursor_after"]
    assert record["rows_read"] == 0
    assert error.result is not None
    assert (error.result.run_id, error.result.status) == (record["id"], "failed")
    assert error.result.exit_code == EXIT_CONFIGURATION


def test_a_missing_source_table(tables: TestDatabases) -> None:
    message = _refused(tables, table="nope", dest_table="t")
    assert "core table public.nope does not exist" in message


def test_a_missing_cursor_column(tables: TestDatabases) -> None:
    assert "core table public.t has no column 'updated'" in _refused(tables, cursor="updated")


def test_a_missing_id_field(tables: TestDatabases) -> None:
    assert "core table public.t has no column 'uid'" in _refused(tables, id_field="uid")


def test_a_missing_selected_column(tables: TestDatabases) -> None:
    message = _refused(tables, columns=["id", "n", "gone"])
    assert "core table public.t has no column 'gone'" in message


def test_a_missing_destination_table(tables: TestDatabases) -> None:
    message = _refused(tables, dest_table="missing")
    assert "analytics table public.missing does not exist" in message


def test_a_missing_conflict_column(tables: TestDatabases) -> None:
    message = _refused(tables, keys=["uid"])
    assert "analytics table public.t has no conflict column 'uid'" in message


def test_conflict_columns_without_a_unique_index(tables: TestDatabases) -> None:
    message = _refused(tables, keys=["n"])
    assert "analytics table public.t has no unique index on (n)" in message


def test_schema_drift_a_source_column_missing_in_the_destination(tables: TestDatabases) -> None:
    tables.query_core("ALTER TABLE t ADD COLUMN added_later text")
    message = _refused(tables)
    assert "analytics table public.t lacks source column 'added_later'" in message


def test_runner_tables_not_migrated(tables: TestDatabases) -> None:
    tables.query_analytics("DROP SCHEMA tablesync CASCADE")
    with pytest.raises(PreflightError) as caught:
        sync(tables, definition("t", "n"))
    assert "analytics is not migrated: table tablesync.positions does not exist" in str(
        caught.value
    )
    assert tables.query_analytics("SELECT count(*) FROM t") == [(0,)]


def test_pending_migrations(tables: TestDatabases) -> None:
    # Analytics cannot be trusted to take a run record before its migrations: none is left.
    newest = tables.query_analytics("SELECT max(version) FROM schema_migrations")[0][0]
    tables.query_analytics("DELETE FROM schema_migrations WHERE version = %s", (newest,))
    with pytest.raises(PreflightError) as caught:
        sync(tables, definition("t", "n"))
    assert f"analytics has 1 pending migration(s) ({newest})" in str(caught.value)
    assert tables.query_analytics("SELECT count(*) FROM tablesync.runs") == [(0,)]
    assert caught.value.result is None


def test_a_refusal_leaves_the_saved_position_as_it_was(tables: TestDatabases) -> None:
    sync(tables, definition("t", "n"))
    tables.query_analytics("ALTER TABLE t DROP COLUMN v")  # dropped by hand
    tables.query_core("INSERT INTO t VALUES (6, 6, 'new')")
    with pytest.raises(PreflightError) as caught:
        sync(tables, definition("t", "n"))
    assert "analytics table public.t lacks source column 'v'" in str(caught.value)
    first, refused = runs(tables)
    assert (first["status"], refused["status"]) == ("succeeded", "failed")
    assert refused["cursor_before"] == refused["cursor_after"] == first["cursor_after"]
    assert refused["error_text"] == str(caught.value)
    assert tables.query_analytics("SELECT max(id) FROM t") == [(5,)]


def test_a_transform_naming_an_unknown_destination_column(tables: TestDatabases) -> None:
    # Only the first row's output tells the columns: the run has a record by then,
    # but it writes no row and no position, and exits 2 naming the column.
    with pytest.raises(PreflightError) as caught:
        sync(tables, definition("t", "n", transform=lambda r: {**r, "typo": 1}))
    assert caught.value.exit_code == EXIT_CONFIGURATION
    assert "transform output names column 'typo'" in str(caught.value)
    assert tables.query_analytics("SELECT count(*) FROM tablesync.positions") == [(0,)]
    assert tables.query_analytics("SELECT count(*) FROM t") == [(0,)]


def test_every_problem_is_listed(tables: TestDatabases) -> None:
    with pytest.raises(PreflightError) as caught:
        sync(tables, definition("t", "nope", id_field="nada"))
    assert caught.value.problems == [
        "t: core table public.t has no column 'nope'",
        "t: core table public.t has no column 'nada'",
    ]


def _refused_export(dbs: TestDatabases, export: ExportDefinition) -> str:
    with pytest.raises(PreflightError) as caught:
        sync(dbs, export)
    _assert_refusal_recorded(dbs, caught.value)
    return str(caught.value)


def test_a_missing_soft_delete_column(tables: TestDatabases) -> None:
    export = ExportDefinition(
        source={"table": "t", "cursor": {"field": "n"}, "soft_delete": {"field": "deletedAt"}},
        destination={"schema": "public", "table": "t", "conflict_columns": ["id"]},
    )
    message = _refused_export(tables, export)
    assert "core table public.t has no soft-delete column 'deletedAt'" in message


def test_a_missing_key_source_column(tables: TestDatabases) -> None:
    export = ExportDefinition(
        source={"table": "t", "cursor": {"field": "n"}},
        destination={
            "schema": "public",
            "table": "t",
            "conflict_columns": ["id"],
            "key_source": {"id": "uid"},
        },
        transform=lambda row: row,
    )
    message = _refused_export(tables, export)
    assert "core table public.t has no column 'uid' (key_source of 'id')" in message
