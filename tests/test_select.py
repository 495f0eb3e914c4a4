"""SQL transforms (contract rule 19, docs/select.md): ``select`` and ``source.where``,
evaluated by core in the read query, through the real command line on the real server
with tests/definitions/select.py."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from consolekit import TOKEN, serving
from consolekit import Cli as ConsoleCli
from dbtools import CliResult, TestDatabases, run_cli
from definitions.select import ANALYTICS, CORE, NOT_TOYS, SELECT
from faultkit import JOB, fault_env, wait_for_dead_sessions
from synctools import sync as in_process_sync

from services.base.definition import ExportDefinition, build_definition
from services.base.errors import InvalidDefinitionError, PreflightError
from services.base.results import RunResult

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
    checked = sync(env, "--verify", "ItemsWhere")  # core's side: the rows where keeps
    assert checked.code == 0, checked.stdout
    assert "analytics matches core" in checked.stdout
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


# -- backfills, full refresh, replays ---------------------------------------------------

RUN_COUNTS = (
    "SELECT status, rows_read, rows_created, rows_skipped FROM tablesync.runs"
    " WHERE definition = %s ORDER BY id"
)
CHUNKS_DONE = (
    "SELECT count(*), count(*) FILTER (WHERE done_at IS NOT NULL) FROM tablesync.backfill_chunks"
    " WHERE definition = %s"
)


def test_a_backfill_killed_mid_chunk_reruns_exactly_counting_each_row_once(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 600)
    out = left_out(dbs)
    killed = sync(env, "ItemsWhere", extra={**CHUNKS, "TABLESYNC_TEST_KILL_AT": "copy:100"})
    assert killed.code == -signal.SIGKILL, killed.stderr
    wait_for_dead_sessions(dbs)
    total, done = dbs.query_analytics(CHUNKS_DONE, ("ItemsWhere",))[0]
    assert 0 < done < total  # killed inside a chunk, after others were committed

    assert sync(env, "ItemsWhere", extra=CHUNKS).code == 0

    assert held(dbs, "items_where") == expected(dbs, NOT_TOYS)
    runs = dbs.query_analytics(RUN_COUNTS, ("ItemsWhere",))
    assert [r[0] for r in runs] == ["abandoned", "succeeded"]
    assert sum(r[1] for r in runs) == 600  # each chunk's rows, once
    assert sum(r[2] for r in runs) == 600 - out
    assert sum(r[3] for r in runs) == out


def test_a_full_refresh_rebuilds_a_select_definition_exactly(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 30)
    assert sync(env, "ItemsWhere").code == 0
    dbs.query_analytics("UPDATE analytics_raw.items_where SET label = 'wrong'")
    dbs.query_analytics("INSERT INTO analytics_raw.items_where VALUES (999, now(), 'x', false, 1)")

    refreshed = sync(env, "--json", "--full-refresh", "--yes", "ItemsWhere")

    assert refreshed.code == 0, refreshed.stderr
    build = json.loads(refreshed.stdout.splitlines()[0])["build_run_id"]
    skipped = dbs.query_analytics("SELECT rows_skipped FROM tablesync.runs WHERE id = %s", (build,))
    assert skipped == [(left_out(dbs),)]
    assert held(dbs, "items_where") == expected(dbs, NOT_TOYS)


def test_a_replay_from_a_cursor_value_writes_the_select_again(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 20)
    assert sync(env, "Items").code == 0
    dbs.query_analytics("UPDATE analytics_raw.items_out SET label = 'stale'")
    since = dbs.query_core("SELECT at::text FROM items WHERE id = 11")[0][0]

    assert sync(env, "--from", since, "--yes", "Items").code == 0
    replayed = sync(env, "--json", "Items")

    assert counts(replayed) == counts_of(read=10, updated=10)
    rows = held(dbs)
    assert [r for r in rows if r[0] > 10] == [r for r in expected(dbs) if r[0] > 10]
    assert {r[2] for r in rows if r[0] <= 10} == {"stale"}  # before --from: not read


# -- verify and repair ------------------------------------------------------------------


def test_verify_evaluates_the_expressions_on_core_and_repair_makes_it_exact(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 30)
    assert sync(env, "Items").code == 0
    clean = sync(env, "--verify", "--json", "Items")
    assert clean.code == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert report["differs"] is False
    # The cursor columns are bare columns: each server hashed each range in place.
    assert report["ranges_in_place"] == report["ranges_checked"] > 1

    dbs.query_analytics("UPDATE analytics_raw.items_out SET cents = cents + 1 WHERE item_id = 4")
    dbs.query_analytics("DELETE FROM analytics_raw.items_out WHERE item_id = 5")
    dbs.query_core("DELETE FROM items WHERE id = 6")  # a hard delete: extra in analytics
    found = sync(env, "--verify", "Items")
    assert found.code == 1
    assert "  missing: 1 (e.g. item_id=5)" in found.stdout
    assert "  differing: 1 (e.g. item_id=4)" in found.stdout
    assert "  extra: 1 (e.g. item_id=6)" in found.stdout

    repaired = sync(env, "--verify", "--repair", "Items")
    assert repaired.code == 0, repaired.stderr
    assert held(dbs) == expected(dbs)
    assert "analytics matches core" in sync(env, "--verify", "Items").stdout


def test_verify_keys_maps_the_bare_key_and_repair_deletes_hard_deletes(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 30)
    assert sync(env, "ItemsWhere").code == 0
    clean = sync(env, "--verify", "--keys", "--json", "ItemsWhere")
    assert clean.code == 0, clean.stderr
    report = json.loads(clean.stdout)
    # Core hashes the keys of the rows where keeps: a clean range moves no key.
    assert (report["ranges_checked"], report["ranges_differing"]) == (1, 0)
    dbs.query_core("DELETE FROM items WHERE id IN (3, 6)")  # books: exported, now gone
    dbs.query_core("UPDATE items SET kind = 'toy' WHERE id = 9")  # a book left out: kept
    found = sync(env, "--verify", "--keys", "ItemsWhere")
    assert found.code == 1
    assert "hashed on each server" in found.stdout  # the key mapped, not staged
    assert "extra: 2" in found.stdout

    assert sync(env, "--verify", "--keys", "--repair", "ItemsWhere").code == 0
    ids = {r[0] for r in held(dbs, "items_where")}
    assert 3 not in ids and 6 not in ids and 9 in ids


# -- how values travel -------------------------------------------------------------------


def test_columns_of_the_same_substance_go_in_binary_others_through_text(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 1, 12)
    binary, text = sync(env, "--dry-run", "Items"), sync(env, "--dry-run", "ItemsText")
    assert "-> analytics analytics_raw.items_out (binary copy)" in binary.stdout
    assert "-> analytics analytics_raw.items_text (text copy)" in text.stdout  # int4 -> bigint
    assert sync(env, "ItemsText").code == 0
    assert held(dbs, "items_text") == expected(dbs)


def test_where_filters_a_python_transform_too(dbs: TestDatabases, env: dict[str, str]) -> None:
    add_items(dbs, 1, 20)
    out = left_out(dbs)
    assert counts(sync(env, "--json", "ItemsPython")) == counts_of(
        read=20, created=20 - out, skipped=out
    )
    assert held(dbs, "items_py") == expected(dbs, NOT_TOYS)


TIES_CORE = "CREATE TABLE ties (id int PRIMARY KEY, at timestamptz NOT NULL, v text)"
TIES_ANALYTICS = "CREATE TABLE analytics_raw.ties_out (k int PRIMARY KEY, id int, v text)"


def test_a_destination_column_named_like_the_tie_breaker_does_not_change_the_read_order(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ORDER BY takes a bare name for an output column first: "id" here would sort by the
    select's -id, and a keyset batch ending at its last row would skip rows."""
    dbs.query_core(TIES_CORE)
    dbs.query_analytics(TIES_ANALYTICS)
    monkeypatch.setenv("TABLESYNC_BACKFILL", "off")
    definition = ExportDefinition(
        source={"table": "ties", "cursor": {"field": "at", "id_field": "id"}},
        destination={"table": "ties_out", "conflict_columns": ["k"]},
        select={"k": '"id"', "id": '-"id"', "v": "v"},
        batch_size=3,
    )
    dbs.query_core("INSERT INTO ties VALUES (1, '2026-01-01', 'first')")
    in_process_sync(dbs, definition)
    tie = "INSERT INTO ties SELECT n, '2026-01-02', 'v' || n FROM generate_series(2, 11) n"
    dbs.query_core(tie)  # one cursor value: the tie-breaker orders them

    assert counts_of_result(in_process_sync(dbs, definition)) == (10, 10)
    assert dbs.query_analytics("SELECT count(*), sum(id) FROM analytics_raw.ties_out") == [
        (11, -66)
    ]


# -- the definition -----------------------------------------------------------------------


SOURCE: dict[str, Any] = {"table": "t", "cursor": {"field": "at", "id_field": "id"}}
VALID: dict[str, Any] = {
    "source": SOURCE,
    "destination": {"table": "t", "conflict_columns": ["k"]},
    "select": {"k": '"id"', "v": "upper(v)"},
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"transform": len}, "give a transform or a select, not both"),
        ({"source": {**SOURCE, "columns": ["v"]}}, "source.columns and select both"),
        ({"select": {"v": "v"}}, "select must give each conflict column; it lacks k"),
        ({"select": {}}, "must map at least one destination column"),
        ({"select": {"k": "id", "v": "1; DROP TABLE t"}}, "holds a ';'"),
        ({"select": {"k": "id", "v": "v) FROM t; SELECT (1"}}, "closes a parenthesis"),
        ({"select": {"k": "id", "v": "'open"}}, "leaves a string"),
        ({"select": {"k": "id", "v": "(v"}}, "leaves a parenthesis open"),
        ({"source": {**SOURCE, "where": "true; COMMIT"}}, "holds a ';'"),
        ({"source": {**SOURCE, "where": "  "}}, "must not be empty"),
    ],
)
def test_a_definition_whose_sql_could_leave_its_frame_is_refused(
    change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        build_definition("S", {**VALID, **change})
    assert caught.value.exit_code == 2
    assert problem in str(caught.value)


def test_sql_text_inside_literals_identifiers_and_comments_is_not_a_frame_problem() -> None:
    text = """v || ';)' || "a;)" || E'\\';' || $x$ ) ; $x$ -- ; )\n/* ( ; /* ) */ */ || ''"""
    definition = build_definition("S", {**VALID, "select": {"k": "id", "v": text}})
    assert definition.key_columns == {"k": "id"}
    quoted = build_definition("S", {**VALID, "select": {"k": ' "Old ""Id"" " ', "v": "v"}})
    assert quoted.key_columns == {"k": 'Old "Id" '}
    computed = build_definition("S", {**VALID, "select": {"k": "id + 1", "v": "v"}})
    assert computed.key_columns is None


def counts_of_result(result: RunResult) -> tuple[int, int]:
    return result.counts.read, result.counts.created


def test_a_bare_key_that_is_not_the_source_column_is_refused(dbs: TestDatabases) -> None:
    """Unquoted, ``user`` is CURRENT_USER, not the column "user": the key mapping a backfill
    and --verify --keys would take from it is refused before anything is written."""
    dbs.query_core('CREATE TABLE people ("user" text PRIMARY KEY, at timestamptz NOT NULL)')
    dbs.query_analytics("CREATE TABLE analytics_raw.people (k text PRIMARY KEY)")
    definition = ExportDefinition(
        source={"table": "people", "cursor": {"field": "at", "id_field": "user"}},
        destination={"table": "people", "conflict_columns": ["k"]},
        select={"k": "user"},
    )
    with pytest.raises(PreflightError) as caught:
        in_process_sync(dbs, definition, name="People")
    assert caught.value.problems == [
        "People: select 'k' (user) is not the source column 'user': quote it (\"...\") to name"
        " the column"
    ]
    quoted = definition.model_copy(update={"select": {"k": '"user"'}})
    dbs.query_core("INSERT INTO people VALUES ('ann', now())")
    assert in_process_sync(dbs, quoted, name="People").counts.created == 1


# -- the console ------------------------------------------------------------------------


def test_the_console_definition_page_shows_the_expressions_escaped(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    with serving(ConsoleCli(env, tmp_path)) as console:
        reply = console.request("GET", f"/definitions/{JOB}/ItemsWhere", token=TOKEN)
    assert reply.status == 200
    page = reply.text
    assert '<code id="where">kind &lt;&gt; &#39;toy&#39;</code>' in page
    assert "kind <> 'toy'" not in page
    assert "<td>label</td><td><code>upper(name) || &#39; (&#39; || coalesce(kind" in page
    assert "SQL (select)" in page
