"""The initial-load fast path: batches copied straight into an empty destination.

A run that finds its destination empty writes each batch with COPY straight
into the table, inside a savepoint. Whatever that COPY refuses (a key seen
twice, a NULL key) rolls back to the savepoint, and the batch is redone
through staging and the upsert, so the contract holds exactly as on the
normal path. The engine's debug log says which path each run took.
"""

from __future__ import annotations

from typing import Any

import pytest
from dbtools import TestDatabases
from synctools import counts_of, definition, on_both, position, sync

from services.base.errors import PreflightError, RowError

# First loads here read in cursor order, batch by batch: this module tests batches.
pytestmark = pytest.mark.usefixtures("cursor_order_first_loads")

TS = "2026-01-01 00:00:00+00"
COPIED = "fast path: "
OFF = "fast path off"


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def _source(dbs: TestDatabases, count: int) -> None:
    """Core table t with rows 1..count, one second apart; destination u keyed on k.
    (id is unique, so it may be the tie-breaker, and nullable, so a test may empty it.)"""
    dbs.query_core("CREATE TABLE t (id int UNIQUE, ts timestamptz, v text)")
    dbs.query_core(
        "INSERT INTO t SELECT g, %s::timestamptz + g * interval '1 second', 'v' || g"
        " FROM generate_series(1, %s) g",
        (TS, count),
    )
    dbs.query_analytics("CREATE TABLE u (k int PRIMARY KEY, v text)")


def _to_key(key_of: Any) -> Any:
    def transform(row: dict[str, Any]) -> dict[str, Any]:
        return {"k": key_of(row["id"]), "v": row["v"]}

    return transform


def _dest(dbs: TestDatabases) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in dbs.query_analytics("SELECT k, v FROM u ORDER BY k")]


@pytest.mark.parametrize("transform", [False, True])
def test_an_empty_destination_takes_the_fast_path_with_exactcounts_of(
    dbs: TestDatabases, debug_log: pytest.LogCaptureFixture, transform: bool
) -> None:
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, ts timestamptz, v text)")
    dbs.query_core(
        "INSERT INTO t SELECT g, %s::timestamptz + g * interval '1 second', 'v' || g"
        " FROM generate_series(1, 5) g",
        (TS,),
    )
    extra: dict[str, Any] = {"transform": dict} if transform else {}
    result = sync(dbs, definition("t", "ts", id_field="id", batch_size=2, **extra))

    assert counts_of(result) == (5, 5, 0, 0)
    assert len(_lines(debug_log, COPIED)) == 3  # every batch, none redone
    assert _lines(debug_log, OFF) == []
    rows = dbs.query_analytics("SELECT id, v FROM t ORDER BY id")
    assert [tuple(r) for r in rows] == [(g, f"v{g}") for g in range(1, 6)]
    assert position(dbs) is not None and position(dbs)[1] == "5"  # type: ignore[index]


def test_a_key_twice_in_one_batch_falls_back_and_the_later_row_wins(
    dbs: TestDatabases, debug_log: pytest.LogCaptureFixture
) -> None:
    _source(dbs, 4)  # ids 2 and 3 both become key 1; 3 is later in cursor order
    export = definition(
        "t",
        "ts",
        id_field="id",
        dest_table="u",
        keys=["k"],
        batch_size=10,
        transform=_to_key(lambda i: i // 2),
    )
    result = sync(dbs, export)

    assert _dest(dbs) == [(0, "v1"), (1, "v3"), (2, "v4")]
    assert counts_of(result) == (4, 3, 0, 1)  # as the upsert counts it: one row collapsed
    assert [m for m in _lines(debug_log, OFF) if "duplicate key" in m]
    assert _lines(debug_log, "copied straight in") == []


def test_a_key_repeated_in_a_later_batch_updates_it_through_the_normal_path(
    dbs: TestDatabases, debug_log: pytest.LogCaptureFixture
) -> None:
    _source(dbs, 4)  # batch 1: ids 1, 2 -> keys 1, 2; batch 2: ids 3, 4 -> keys 1, 4
    keys = {1: 1, 2: 2, 3: 1, 4: 4}
    export = definition(
        "t",
        "ts",
        id_field="id",
        dest_table="u",
        keys=["k"],
        batch_size=2,
        transform=_to_key(keys.__getitem__),
    )
    result = sync(dbs, export)

    assert _dest(dbs) == [(1, "v3"), (2, "v2"), (4, "v4")]
    assert counts_of(result) == (4, 3, 1, 0)
    assert len(_lines(debug_log, "copied straight in")) == 1  # batch 1 only
    assert len(_lines(debug_log, OFF)) == 1  # then staging for the rest of the run
    assert position(dbs) == (f"{TS[:11]}00:00:04+00", "4")


@pytest.mark.parametrize("transform", [False, True])
def test_a_null_key_still_raises_the_row_error_and_writes_nothing(
    dbs: TestDatabases, debug_log: pytest.LogCaptureFixture, transform: bool
) -> None:
    _source(dbs, 3)
    dbs.query_core("UPDATE t SET id = NULL WHERE v = 'v2'")
    if transform:  # a nullable key: only the Python check stops the NULL
        dbs.query_analytics("CREATE TABLE t (id int, ts timestamptz, v text)")
        dbs.query_analytics("CREATE UNIQUE INDEX ON t (id)")
    else:  # a NOT NULL key: the table refuses the NULL itself
        dbs.query_analytics("CREATE TABLE t (id int PRIMARY KEY, ts timestamptz, v text)")
    extra: dict[str, Any] = {"transform": dict} if transform else {}
    with pytest.raises(RowError, match=r"NULL in conflict column\(s\) id") as raised:
        sync(dbs, definition("t", "ts", batch_size=10, **extra))

    assert raised.value.cursor_value is not None  # the row is named, by its cursor
    assert _lines(debug_log, OFF)  # the fast COPY refused it; staging named it
    assert dbs.query_analytics("SELECT count(*) FROM t") == [(0,)]
    assert position(dbs) is None


def test_a_destination_holding_rows_never_takes_the_fast_path(
    dbs: TestDatabases, debug_log: pytest.LogCaptureFixture
) -> None:
    _source(dbs, 3)
    dbs.query_analytics("INSERT INTO u VALUES (99, 'already here')")
    export = definition(
        "t",
        "ts",
        id_field="id",
        dest_table="u",
        keys=["k"],
        batch_size=2,
        transform=_to_key(lambda i: i),
    )
    result = sync(dbs, export)

    assert counts_of(result) == (3, 3, 0, 0)
    assert _lines(debug_log, "copied straight in") == []
    assert [m for m in _lines(debug_log, OFF) if "not empty" in m]
    assert len(_dest(dbs)) == 4


def test_a_nullable_conflict_column_keeps_a_plain_copy_off_the_fast_path(
    dbs: TestDatabases, debug_log: pytest.LogCaptureFixture
) -> None:
    dbs.query_core("CREATE TABLE t (id int, ts timestamptz, v text)")
    dbs.query_core("INSERT INTO t VALUES (1, %s, 'a')", (TS,))
    dbs.query_analytics("CREATE TABLE t (id int, ts timestamptz, v text)")
    dbs.query_analytics("CREATE UNIQUE INDEX ON t (id)")
    sync(dbs, definition("t", "ts", batch_size=10))

    assert _lines(debug_log, "copied straight in") == []
    assert [m for m in _lines(debug_log, OFF) if "nullable" in m]


def test_keys_a_conversion_would_make_equal_are_refused_before_writing(
    dbs: TestDatabases,
) -> None:
    # '1' and '01' are two keys in core and would be one int in analytics: text to int
    # is no lossless conversion (rule 17), so no batch ever gets to collapse them.
    dbs.query_core("CREATE TABLE t (id text PRIMARY KEY, ts timestamptz, v text)")
    dbs.query_core(
        "INSERT INTO t VALUES ('1', %s, 'first'), ('01', %s::timestamptz + interval '1s', 'later')",
        (TS, TS),
    )
    dbs.query_analytics("CREATE TABLE t (id int PRIMARY KEY, ts timestamptz, v text)")
    with pytest.raises(PreflightError, match="column 'id' is text in core but integer"):
        sync(dbs, definition("t", "ts", batch_size=10))
    assert dbs.query_analytics("SELECT count(*) FROM t") == [(0,)]


def test_after_a_refused_batch_the_prefetched_ones_are_read_again_for_staging(
    dbs: TestDatabases, debug_log: pytest.LogCaptureFixture
) -> None:
    # The prefetch thread reads ahead without the key text staging needs:
    # leaving the fast path must drop what it read and start it again.
    dbs.query_core("CREATE TABLE t (id int NOT NULL, ts timestamptz, v text)")
    dbs.query_core(
        "INSERT INTO t SELECT g / 2 + 1, %s::timestamptz + g * interval '1 second', 'v' || g"
        " FROM generate_series(0, 5) g",  # ids 1, 1, 2 | 2, 3, 3: batch 1 holds id 1 twice
        (TS,),
    )
    dbs.query_analytics("CREATE TABLE t (id int PRIMARY KEY, ts timestamptz, v text)")
    result = sync(dbs, definition("t", "ts", batch_size=3))

    rows = dbs.query_analytics("SELECT id, v FROM t ORDER BY id")
    assert [tuple(r) for r in rows] == [(1, "v1"), (2, "v3"), (3, "v5")]  # the later row wins
    assert counts_of(result) == (6, 3, 1, 2)
    assert _lines(debug_log, "copied straight in") == []  # batch 1 redone, 2 staged
    assert len(_lines(debug_log, OFF)) == 1
