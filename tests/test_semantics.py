"""Guarantees 1, 3, 5 and 8 (docs/guarantees.md), with cursor ties and transforms: what one
run reads, writes, counts and never touches."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from dbtools import TestDatabases
from synctools import definition, on_both, position, runs, sync

from services.base.db import Databases
from services.base.run_settings import WORKERS_VARIABLE
from services.base.settings import DatabaseUrls
from services.store.preflight import plan_definition
from services.sync.read.watermark import null_cursor_rows

TS = "2026-01-01 00:00:00+00"


def _rows(dbs: TestDatabases, table: str = "t") -> list[tuple[Any, ...]]:
    return dbs.query_analytics(f'SELECT * FROM "{table}" ORDER BY 1')


def _tied_table(dbs: TestDatabases, count: int = 10) -> None:
    """``count`` rows sharing one cursor value, then two rows after it."""
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, ts timestamptz, v text)")
    dbs.query_core(
        "INSERT INTO t SELECT g, %s, 'v' || g FROM generate_series(1, %s) g",
        (TS, count),
    )
    dbs.query_core(
        "INSERT INTO t VALUES (%s, %s::timestamptz + interval '1 second', 'a'),"
        " (%s, %s::timestamptz + interval '2 second', 'b')",
        (count + 1, TS, count + 2, TS),
    )


def test_rows_are_read_in_cursor_then_id_order(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WORKERS_VARIABLE, "0")  # the transform records calls in this process
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, n int, v text)")
    dbs.query_core("INSERT INTO t VALUES (5, 1, 'a'), (2, 3, 'b'), (9, 1, 'c'), (1, 2, 'd')")
    seen: list[tuple[int, int]] = []

    def record(row: dict[str, Any]) -> dict[str, Any]:
        seen.append((row["n"], row["id"]))
        return row

    sync(dbs, definition("t", "n", id_field="id", batch_size=2, transform=record))

    assert seen == [(1, 5), (1, 9), (2, 1), (3, 2)]


@pytest.mark.parametrize("id_field", ["id", None])
def test_ties_across_batch_boundaries_are_neither_lost_nor_duplicated(
    dbs: TestDatabases, id_field: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WORKERS_VARIABLE, "0")  # the transform records calls in this process
    _tied_table(dbs)
    seen: list[int] = []

    def record(row: dict[str, Any]) -> dict[str, Any]:
        seen.append(row["id"])
        return row

    result = sync(dbs, definition("t", "ts", id_field=id_field, batch_size=3, transform=record))

    assert sorted(seen) == list(range(1, 13))
    assert result.counts.read == result.counts.created == 12
    assert [r[0] for r in _rows(dbs)] == list(range(1, 13))


@pytest.mark.parametrize("id_field", ["id", None])
def test_rows_added_later_to_a_tied_value_are_not_lost(
    dbs: TestDatabases, id_field: str | None
) -> None:
    _tied_table(dbs, count=4)
    export = definition("t", "ts", id_field=id_field, batch_size=3)
    sync(dbs, export)
    dbs.query_core("INSERT INTO t VALUES (100, now(), 'late')")

    result = sync(dbs, export)

    assert result.counts.read == 1
    assert [r[0] for r in _rows(dbs)] == [1, 2, 3, 4, 5, 6, 100]


def test_a_second_run_reads_only_rows_after_the_saved_position(dbs: TestDatabases) -> None:
    _tied_table(dbs)
    export = definition("t", "ts", id_field="id", batch_size=3)
    sync(dbs, export)

    again = sync(dbs, export)

    assert again.counts.read == 0
    assert position(dbs) == ("2026-01-01 00:00:02+00", "12")


def test_without_transform_rows_are_the_selected_source_columns(dbs: TestDatabases) -> None:
    dbs.query_core("CREATE TABLE t (id int PRIMARY KEY, n int, secret text, v text)")
    dbs.query_analytics("CREATE TABLE t (id int PRIMARY KEY, v text, n int, extra text)")
    dbs.query_core("INSERT INTO t VALUES (1, 10, 's', 'a'), (2, 20, 's', 'b')")

    sync(dbs, definition("t", "n", columns=["id", "n", "v"]))

    assert _rows(dbs) == [(1, "a", 10, None), (2, "b", 20, None)]


def test_a_transform_returning_none_skips_the_row(dbs: TestDatabases) -> None:
    dbs.query_core("CREATE TABLE t (id int PRIMARY KEY, n int)")
    dbs.query_analytics("CREATE TABLE t (id int PRIMARY KEY, doubled int)")
    dbs.query_core("INSERT INTO t SELECT g, g FROM generate_series(1, 7) g")

    def odd_doubled(row: dict[str, Any]) -> dict[str, Any] | None:
        return None if row["n"] % 2 == 0 else {"id": row["id"], "doubled": row["n"] * 2}

    result = sync(dbs, definition("t", "n", batch_size=2, transform=odd_doubled))

    assert _rows(dbs) == [(1, 2), (3, 6), (5, 10), (7, 14)]
    assert (result.counts.read, result.counts.created, result.counts.skipped) == (7, 4, 3)


def test_a_batch_holding_a_key_twice_keeps_the_later_row_in_cursor_order(
    dbs: TestDatabases,
) -> None:
    dbs.query_core("CREATE TABLE t (seq int PRIMARY KEY, k int, v text)")
    dbs.query_analytics("CREATE TABLE t (k int PRIMARY KEY, v text)")
    # Inserted out of cursor order so physical order cannot pass for cursor order.
    dbs.query_core("INSERT INTO t VALUES (3, 1, 'third'), (1, 1, 'first'), (2, 1, 'second')")
    dbs.query_core("INSERT INTO t VALUES (5, 2, 'y'), (4, 2, 'x')")

    result = sync(dbs, definition("t", "seq", keys=["k"], columns=["k", "v"], batch_size=10))

    assert _rows(dbs) == [(1, "third"), (2, "y")]
    assert result.counts.read == 5


def test_with_a_transform_the_later_row_in_cursor_order_wins_too(dbs: TestDatabases) -> None:
    dbs.query_core("CREATE TABLE t (seq int PRIMARY KEY, k int, v text)")
    dbs.query_analytics("CREATE TABLE t (k int PRIMARY KEY, v text)")
    dbs.query_core("INSERT INTO t VALUES (2, 1, 'second'), (1, 1, 'first')")

    sync(dbs, definition("t", "seq", keys=["k"], transform=lambda r: {"k": r["k"], "v": r["v"]}))

    assert _rows(dbs) == [(1, "second")]


def _xmins(dbs: TestDatabases) -> dict[int, str]:
    return {r[0]: r[1] for r in dbs.query_analytics("SELECT id, xmin::text FROM t")}


def test_created_updated_and_skipped_are_counted_exactly(dbs: TestDatabases) -> None:
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, n int, v text, doc jsonb)")
    dbs.query_core(
        "INSERT INTO t SELECT g, g, 'v' || g, jsonb_build_object('g', g)"
        " FROM generate_series(1, 9) g"
    )
    # Destination already holds 1-3 identical, 4-5 different, 6-9 missing.
    dbs.query_analytics(
        "INSERT INTO t SELECT g, g, 'v' || g, jsonb_build_object('g', g)"
        " FROM generate_series(1, 3) g"
    )
    dbs.query_analytics("INSERT INTO t VALUES (4, 4, 'old', '{\"g\": 4}'), (5, 5, 'v5', NULL)")
    before = _xmins(dbs)

    result = sync(dbs, definition("t", "n", batch_size=4))

    counts = result.counts
    assert (counts.read, counts.created, counts.updated, counts.skipped) == (9, 4, 2, 3)
    after = _xmins(dbs)
    assert [after[i] == before[i] for i in (1, 2, 3, 4, 5)] == [True] * 3 + [False] * 2
    record = runs(dbs)[-1]
    assert (record["rows_created"], record["rows_updated"], record["rows_skipped"]) == (4, 2, 3)


def test_a_row_identical_to_the_destination_is_skipped_and_not_rewritten(
    dbs: TestDatabases,
) -> None:
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, n int, v text, tags text[], doc json)")
    dbs.query_core(
        "INSERT INTO t VALUES (1, 1, 'a', '{x}', '{\"a\": 1}'), (2, 2, NULL, NULL, NULL)"
    )
    export = definition("t", "n")
    sync(dbs, export)
    before = _xmins(dbs)
    dbs.query_analytics("DELETE FROM tablesync.positions")

    again = sync(dbs, export)

    assert (again.counts.read, again.counts.skipped, again.counts.updated) == (2, 2, 0)
    assert _xmins(dbs) == before


def test_rows_with_a_null_cursor_are_not_exported_and_are_counted(dbs: TestDatabases) -> None:
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, ts timestamptz)")
    dbs.query_core(
        "INSERT INTO t VALUES (1, %s), (2, NULL), (3, %s), (4, NULL), (5, NULL)", (TS, TS)
    )

    result = sync(dbs, definition("t", "ts", id_field="id", batch_size=2))

    assert [r[0] for r in _rows(dbs)] == [1, 3]
    assert result.counts.null_cursor == 3
    assert runs(dbs)[-1]["rows_null_cursor"] == 3


@pytest.mark.parametrize("not_null", [True, False])
def test_the_null_cursor_count_reads_the_source_only_when_the_key_can_be_null(
    dbs: TestDatabases, not_null: bool
) -> None:
    # The count is a query over the source every run (a whole-table scan without an index
    # on the key); with NOT NULL on both key columns the catalog already answers 0. A
    # lock held on the table tells whether the count touched it.
    null = " NOT NULL" if not_null else ""
    on_both(dbs, f"CREATE TABLE t (id int PRIMARY KEY, ts timestamptz{null})")
    dbs.query_core("INSERT INTO t VALUES (1, %s)", (TS,))
    with (
        psycopg.connect(dbs.core_url, autocommit=True) as core,
        psycopg.connect(dbs.analytics_url) as analytics,
        psycopg.connect(dbs.core_url) as holder,
    ):
        export = definition("t", "ts", id_field="id")
        plan = plan_definition("job", "t", export, core=core, analytics=analytics)
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        core.execute("SET lock_timeout = '200ms'")
        if not_null:
            assert null_cursor_rows(core, plan) == 0
        else:
            with pytest.raises(psycopg.errors.LockNotAvailable):
                null_cursor_rows(core, plan)


def test_core_sessions_are_read_only(dbs: TestDatabases) -> None:
    dbs.query_core("CREATE TABLE t (id int)")
    urls = DatabaseUrls(core=dbs.core_url, analytics=dbs.analytics_url)
    with (
        Databases(urls) as databases,
        databases.core.connection() as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("INSERT INTO t VALUES (1)")


def test_a_run_leaves_core_unchanged(dbs: TestDatabases) -> None:
    _tied_table(dbs)
    checksum = "SELECT md5(string_agg(t::text, ',' ORDER BY id)), max(xmin::text) FROM t"
    before = dbs.query_core(checksum)

    sync(dbs, definition("t", "ts", id_field="id", batch_size=3))

    assert dbs.query_core(checksum) == before
