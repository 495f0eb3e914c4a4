"""SQL transforms (contract rule 19, docs/select.md): ``select`` and ``source.where``,
evaluated by core in the read query, through the real command line on the real server
with tests/definitions/select.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dbtools import CliResult, TestDatabases, run_cli
from definitions.select import ANALYTICS, CORE, NOT_TOYS, SELECT
from faultkit import JOB, fault_env

COLUMNS = "item_id, at, label, is_book, cents"
# Chunks of 1 block: a backfill of a few hundred rows is several chunks.
CHUNKS = {"TABLESYNC_BACKFILL_CHUNK_PAGES": "1"}


@pytest.fixture
def env(dbs: TestDatabases, tmp_path: Path) -> dict[str, str]:
    dbs.query_core(CORE)
    dbs.query_analytics(ANALYTICS)
    return {**fault_env(dbs, tmp_path, "select"), "TABLESYNC_MAX_DELETE_FRACTION": "1"}


def sync(env: dict[str, str], *args: str, extra: dict[str, str] | None = None) -> CliResult:
    return run_cli([JOB, *args], {**env, **(extra or {})})


def counts(outcome: CliResult) -> dict[str, int]:
    assert outcome.code == 0, outcome.stderr
    [result] = json.loads(outcome.stdout)
    found: dict[str, int] = result["counts"]
    return found


def add_items(dbs: TestDatabases, first: int, last: int) -> None:
    """Items first..last: every third a book, every fifth (not a book) of no kind, the
    rest toys; a NULL name and an empty one among them."""
    dbs.query_core(
        "INSERT INTO items (id, name, kind, price)"
        " SELECT n, CASE n %% 7 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE 'item ' || n END,"
        " CASE WHEN n %% 3 = 0 THEN 'book' WHEN n %% 5 = 0 THEN NULL ELSE 'toy' END,"
        " n * 1.25 FROM generate_series(%s::int, %s::int) AS n",
        (first, last),
    )


def change(dbs: TestDatabases, ids: list[int], assignment: str) -> None:
    dbs.query_core(
        f"UPDATE items SET {assignment}, at = clock_timestamp() WHERE id = ANY(%s)".encode(),
        (ids,),
    )


def expected(dbs: TestDatabases, where: str = "true") -> list[tuple[Any, ...]]:
    """What the select makes of core's rows, computed apart from the sync's read."""
    values = ", ".join(SELECT.values())
    return sorted(dbs.query_core(f"SELECT {values} FROM items WHERE {where}".encode()))


def held(dbs: TestDatabases, table: str = "items_out") -> list[tuple[Any, ...]]:
    return sorted(dbs.query_analytics(f"SELECT {COLUMNS} FROM analytics_raw.{table}".encode()))


def counts_of(**given: int) -> dict[str, int]:
    zero = dict.fromkeys(["read", "created", "updated", "deleted", "skipped", "errors"], 0)
    return {**zero, "null_cursor": 0, **given}


def left_out(dbs: TestDatabases) -> int:
    """The rows NOT_TOYS leaves out: toys, and rows of no kind (NULL is not true)."""
    query = f"SELECT count(*) FROM items WHERE ({NOT_TOYS}) IS NOT TRUE"
    return int(dbs.query_core(query.encode())[0][0])


# -- runs ------------------------------------------------------------------------


def test_first_load_and_incremental_runs_write_what_core_computes(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 40)
    assert counts(sync(env, "--json", "Items")) == counts_of(read=40, created=40)
    assert held(dbs) == expected(dbs)

    change(dbs, [3, 7], "name = 'renamed'")
    add_items(dbs, 41, 42)
    assert counts(sync(env, "--json", "Items")) == counts_of(read=4, created=2, updated=2)
    assert held(dbs) == expected(dbs)


def test_rows_where_leaves_out_are_counted_as_skipped_once_and_never_written(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 40)
    out = left_out(dbs)
    assert 0 < out < 40
    first = counts(sync(env, "--json", "ItemsWhere", extra=CHUNKS))  # a backfill's chunks
    assert first == counts_of(read=40, created=40 - out, skipped=out)
    assert held(dbs, "items_where") == expected(dbs, NOT_TOYS)

    change(dbs, [2, 3, 4], "price = price + 1")  # 2, 4: toys; 3: a book
    again = counts(sync(env, "--json", "ItemsWhere"))  # cursor batches of 4
    assert again == counts_of(read=3, updated=1, skipped=2)
    assert held(dbs, "items_where") == expected(dbs, NOT_TOYS)
    assert counts(sync(env, "--json", "ItemsWhere")) == counts_of()  # counted once, not again


def test_a_row_that_leaves_where_stays_in_the_destination_as_last_exported(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 12)
    counts(sync(env, "--json", "ItemsWhere"))
    before = dict((r[0], r) for r in held(dbs, "items_where"))
    change(dbs, [3], "kind = 'toy', name = 'now a toy'")

    assert counts(sync(env, "--json", "ItemsWhere")) == counts_of(read=1, skipped=1)
    after = dict((r[0], r) for r in held(dbs, "items_where"))
    assert after[3] == before[3]  # neither deleted nor changed: like a transform's None
    verified = sync(env, "--verify", "--repair", "ItemsWhere")
    assert verified.code == 0, verified.stderr
    assert "1 row(s) are left out by source.where in core: not exported, kept" in verified.stdout
    assert dict((r[0], r) for r in held(dbs, "items_where"))[3] == before[3]


def test_soft_deletes_delete_a_flagged_key_whatever_where_says(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 12)
    counts(sync(env, "--json", "ItemsSoft"))
    assert 3 in {r[0] for r in held(dbs, "items_soft")}
    # 3 was a book; now a toy (where leaves it out) and deleted: its key goes.
    change(dbs, [3], "kind = 'toy', \"deletedAt\" = now()")
    change(dbs, [6], "name = 'kept'")  # a book, changed
    change(dbs, [4], "price = 0")  # a toy: left out, skipped

    assert counts(sync(env, "--json", "ItemsSoft")) == counts_of(
        read=3, updated=1, deleted=1, skipped=1
    )
    assert held(dbs, "items_soft") == expected(dbs, f'{NOT_TOYS} AND "deletedAt" IS NULL')


# -- refused before writing, or failing cleanly ---------------------------------------


def nothing_written(dbs: TestDatabases) -> bool:
    rows = dbs.query_analytics("SELECT count(*) FROM analytics_raw.items_bad")[0][0]
    positions = dbs.query_analytics("SELECT count(*) FROM tablesync.positions")[0][0]
    return bool(rows == 0 and positions == 0)


def test_an_expression_that_does_not_compile_is_refused_before_writing(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 5)
    code, _, err = sync(env, "BadCompile")
    assert code == 2
    assert err.splitlines() == [
        "error: BadCompile: select 'label' (upper(nme)) does not compile on core:"
        ' column "nme" does not exist'
    ]
    assert nothing_written(dbs)


def test_an_expression_of_a_type_the_column_cannot_take_is_refused_before_writing(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 5)
    code, _, err = sync(env, "BadType")
    assert code == 2
    assert err.splitlines() == [
        "error: BadType: select 'cents' (name) is text but analytics column 'cents' is bigint:"
        " no conversion keeps every value (cast the expression or change the column)"
    ]
    assert nothing_written(dbs)


def test_a_function_that_writes_fails_in_the_read_only_session_and_nothing_is_written(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 5)
    code, _, err = sync(env, "Writer")
    assert code == 1
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert line.startswith("error: Writer: ")
    assert "cannot execute INSERT in a read-only transaction" in line
    assert nothing_written(dbs)
    assert dbs.query_core("SELECT count(*) FROM audit") == [(0,)]


def test_an_expression_cannot_turn_the_session_read_write_for_the_next_batches(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 12)  # three batches: the first turns the default off
    code, _, err = sync(env, "Breakout", extra={"TABLESYNC_BACKFILL": "off"})
    assert code == 1
    assert "the core session is no longer read-only" in err
    assert dbs.query_core("SELECT count(*) FROM audit") == [(0,)]


def test_dry_run_prints_the_read_query_with_the_expressions(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 5)
    code, out, err = sync(env, "--dry-run", "ItemsWhere")
    assert (code, err) == (0, "")
    assert "  read query (the window's rows; a backfill reads each chunk's blocks):" in out
    query = out.split("read query", 1)[1]
    assert "upper(name) || ' (' || coalesce(kind, '?') || ')'" in query
    assert '\n    ) AS "label"' in query
    assert "kind <> 'toy'" in query
    assert nothing_written(dbs)
