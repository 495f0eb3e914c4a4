"""Soft deletes (docs/deletes.md): a row read with its flag set deletes its key.

Every run goes through the real command line with tests/definitions/soft_deletes.py.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbtools import CliResult, TestDatabases, run_cli
from definitions.soft_deletes import ITEMS_ANALYTICS, ITEMS_CORE
from faultkit import JOB, fault_env
from slack_server import SlackServer, serve_slack


@pytest.fixture
def env(dbs: TestDatabases, tmp_path: Path) -> dict[str, str]:
    dbs.query_core(ITEMS_CORE)
    dbs.query_analytics(ITEMS_ANALYTICS)
    # Small tables: the guard has tests of its own, which set its default back.
    return {**fault_env(dbs, tmp_path, "soft_deletes"), "TABLESYNC_MAX_DELETE_FRACTION": "1"}


GUARDED = {"TABLESYNC_MAX_DELETE_FRACTION": "0.1"}


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with serve_slack() as server:
        yield server


def sync(env: dict[str, str], *args: str) -> CliResult:
    return run_cli([JOB, "--json", *args], env)


def counts(outcome: CliResult) -> dict[str, int]:
    assert outcome.code == 0, outcome.stderr
    [result] = json.loads(outcome.stdout)
    found: dict[str, int] = result["counts"]
    return found


def add_items(dbs: TestDatabases, count: int, **columns: Any) -> None:
    """Items 1..count (or after the last), ``v`` = 'v<id>', other columns as given."""
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(["%s"] * len(columns))
    dbs.query_core(
        f"INSERT INTO items (id, v{', ' if columns else ''}{names})"  # trusted test names
        f" SELECT n, 'v' || n{', ' if columns else ''}{values}"
        " FROM generate_series((SELECT coalesce(max(id), 0) + 1 FROM items),"
        " (SELECT coalesce(max(id), 0) FROM items) + %s) n".encode(),
        (*columns.values(), count),
    )


def change(dbs: TestDatabases, ids: list[int], assignment: str) -> None:
    """Set ``assignment`` on items ``ids`` and move their cursor, as an application would."""
    dbs.query_core(
        f"UPDATE items SET {assignment}, at = clock_timestamp() WHERE id = ANY(%s)".encode(),
        (ids,),
    )


def ids_in(dbs: TestDatabases, table: str, key: str = "id") -> set[int]:
    rows = dbs.query_analytics(f"SELECT {key} FROM analytics_raw.{table}".encode())
    return {r[0] for r in rows}


def test_a_row_whose_timestamp_flag_is_set_is_deleted_and_counted(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 10)
    assert counts(sync(env, "ByTime"))["created"] == 10
    change(dbs, [3, 7], '"deletedAt" = now()')

    outcome = run_cli([JOB, "ByTime"], env)

    assert outcome.code == 0, outcome.stderr
    assert "read 2, created 0, updated 0, deleted 2, skipped 0, errors 0" in outcome.stdout
    assert ids_in(dbs, "items") == set(range(1, 11)) - {3, 7}
    record = dbs.query_analytics(
        "SELECT rows_read, rows_deleted FROM tablesync.runs ORDER BY id DESC LIMIT 1"
    )
    assert record == [(2, 2)]
    status = json.loads(run_cli([JOB, "--status", "--json", "ByTime"], env).stdout)
    assert status[0]["last_run"]["rows_deleted"] == 2


def test_a_true_boolean_flag_deletes_and_false_or_null_keep(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 6, gone=False)
    assert counts(sync(env, "ByFlag"))["created"] == 6
    change(dbs, [1, 2], "gone = true")
    change(dbs, [3], "gone = NULL")

    found = counts(sync(env, "ByFlag"))

    assert (found["deleted"], found["updated"]) == (2, 1)
    assert ids_in(dbs, "items_flag") == {3, 4, 5, 6}


def test_a_cleared_flag_brings_the_row_back(dbs: TestDatabases, env: dict[str, str]) -> None:
    add_items(dbs, 5)
    sync(env, "ByTime")
    change(dbs, [2], '"deletedAt" = now()')
    assert counts(sync(env, "ByTime"))["deleted"] == 1
    change(dbs, [2], "\"deletedAt\" = NULL, v = 'back'")

    assert counts(sync(env, "ByTime"))["created"] == 1
    assert dbs.query_analytics("SELECT v FROM analytics_raw.items WHERE id = 2") == [("back",)]


def test_a_first_load_leaves_flagged_rows_out_on_the_fast_path(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 10)
    dbs.query_core('UPDATE items SET "deletedAt" = now() WHERE id IN (2, 9)')

    outcome = run_cli([JOB, "--verbose", "ByTime"], env)

    assert outcome.code == 0, outcome.stderr
    assert "copied straight in" in outcome.stderr  # the fast path, not staging
    assert "read 10, created 8, updated 0, skipped 2, errors 0" in outcome.stdout
    assert ids_in(dbs, "items") == set(range(1, 11)) - {2, 9}


def test_through_a_transform_the_output_key_is_deleted_and_delete_is_honoured(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 12)
    assert counts(sync(env, "Renamed"))["created"] == 12
    change(dbs, [4], '"deletedAt" = now()')
    change(dbs, [5, 11], "v = 'purge'")

    found = counts(sync(env, "Renamed"))

    assert found["deleted"] == 3
    assert ids_in(dbs, "items_renamed", "old_id") == set(range(1, 13)) - {4, 5, 11}


def test_batches_of_nothing_but_deletes_before_any_row_to_write(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 12)
    assert sync(env, "Renamed").code == 0
    # Two batches of Delete only (the second through a transform worker), then one write.
    change(dbs, list(range(1, 9)), "v = 'purge'")
    change(dbs, [12], "v = 'late'")

    found = counts(sync(env, "Renamed"))

    assert (found["deleted"], found["updated"]) == (8, 1)
    assert ids_in(dbs, "items_renamed", "old_id") == {9, 10, 11, 12}


def test_a_delete_naming_other_columns_than_the_key_is_a_row_error(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 3)
    dbs.query_core("UPDATE items SET v = 'purge' WHERE id = 2")

    outcome = run_cli([JOB, "WrongDelete"], env)

    assert outcome.code == 1
    assert (
        "error: WrongDelete: row at at=" in outcome.stderr
        and "transform returned Delete({'id': 2}): a Delete names exactly the conflict columns"
        " (old_id), not id, old_id"
        in outcome.stderr
    )


def _log(dbs: TestDatabases, changes: list[tuple[int, str | None, bool]]) -> None:
    """Core ``changes`` rows (key, v, gone) in this order, one cursor value each."""
    for key, v, gone in changes:
        dbs.query_core(
            "INSERT INTO changes (at, key, v, gone) VALUES (clock_timestamp(), %s, %s, %s)",
            (key, v, gone),
        )


def _last_per_key(dbs: TestDatabases) -> dict[int, str]:
    """What the destination must hold: each key's last change, unless it deletes."""
    rows = dbs.query_core(
        "SELECT DISTINCT ON (key) key, v, gone FROM changes ORDER BY key, at DESC, seq DESC"
    )
    return {key: v for key, v, gone in rows if not gone}


def _held(dbs: TestDatabases, table: str) -> dict[int, str]:
    return dict(dbs.query_analytics(f"SELECT key, v FROM analytics_raw.{table}".encode()))


# In one batch of four: key 1 updated then deleted (deleted); key 2 deleted then
# written again (kept, with its last value).
ONE_BATCH = [(1, "a2", False), (1, None, True), (2, None, True), (2, "b2", False)]


@pytest.mark.parametrize("name", ["Changes", "ChangesCopied"])
@pytest.mark.parametrize("first_load", [True, False], ids=["first load", "later run"])
def test_the_later_row_of_a_key_in_one_batch_wins(
    dbs: TestDatabases, env: dict[str, str], name: str, first_load: bool
) -> None:
    table = {"Changes": "changes_state", "ChangesCopied": "changes_copied"}[name]
    if not first_load:
        _log(dbs, [(1, "a1", False), (2, "b1", False), (3, "c1", False)])
        assert sync(env, name).code == 0
    _log(dbs, ONE_BATCH)

    outcome = sync(env, name)

    assert outcome.code == 0, outcome.stderr
    assert _held(dbs, table) == _last_per_key(dbs)
    assert 1 not in _held(dbs, table) and _held(dbs, table)[2] == "b2"


def test_a_first_load_deletes_a_key_an_earlier_batch_of_it_wrote(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    # Batch one writes key 1 straight in; batch two (still the fast path) deletes it.
    _log(dbs, [(1, "a", False), (2, "b", False), (3, "c", False), (4, "d", False)])
    _log(dbs, [(5, "e", False), (1, None, True), (6, "f", False), (7, "g", False)])

    outcome = run_cli([JOB, "--verbose", "--json", "Changes"], env)

    assert outcome.code == 0, outcome.stderr
    assert "fast path off" not in outcome.stderr
    assert _held(dbs, "changes_state") == _last_per_key(dbs)
    assert json.loads(outcome.stdout)[0]["counts"]["deleted"] == 1


@pytest.mark.parametrize("phase", ["copy:3", "upsert:1", "commit:1", "committed:1", "upsert:3"])
def test_soft_deletes_after_a_kill_lose_and_resurrect_nothing(
    dbs: TestDatabases, env: dict[str, str], phase: str
) -> None:
    add_items(dbs, 12)
    assert sync(env, "ByTime", "Renamed").code == 0
    change(dbs, [2, 6, 10], '"deletedAt" = now()')
    change(dbs, [3, 7], "v = 'edited'")
    change(dbs, [11], "v = 'purge'")
    serial = {**env, "TABLESYNC_TRANSFORM_WORKERS": "0"}

    killed = run_cli([JOB, "ByTime", "Renamed"], {**serial, "TABLESYNC_TEST_KILL_AT": phase})
    assert killed.code == -signal.SIGKILL, killed.stderr
    rerun = run_cli([JOB, "ByTime", "Renamed"], serial)

    assert rerun.code == 0, rerun.stderr
    live = dict(dbs.query_core('SELECT id, v FROM items WHERE "deletedAt" IS NULL'))
    held = dict(dbs.query_analytics("SELECT id, v FROM analytics_raw.items"))
    assert held == live
    renamed = dict(dbs.query_analytics("SELECT old_id, v FROM analytics_raw.items_renamed"))
    assert renamed == {k: v for k, v in live.items() if v != "purge"}


def test_the_guard_stops_a_run_that_would_delete_half_the_destination(
    dbs: TestDatabases, env: dict[str, str], slack: SlackServer
) -> None:
    add_items(dbs, 20)
    assert sync(env, "ByTime").code == 0
    change(dbs, list(range(1, 11)), '"deletedAt" = now()')
    env = {**env, **GUARDED, "SLACK_WEBHOOK_URL": slack.webhook_url}

    refused = run_cli([JOB, "ByTime"], env)

    assert refused.code == 1
    line = (
        "error: ByTime: would delete 10 of 20 row(s) of analytics_raw.items (50%), more than"
        " TABLESYNC_MAX_DELETE_FRACTION=0.1 (10%); nothing was deleted: run"
        " `python run_job.py export-to-pg ByTime --yes` to delete them"
    )
    assert [e for e in refused.stderr.splitlines() if e.startswith("error:")] == [line]
    assert len(ids_in(dbs, "items")) == 20
    record = dbs.query_analytics(
        "SELECT status, rows_deleted, error_text FROM tablesync.runs ORDER BY id DESC LIMIT 1"
    )
    assert record == [("failed", 0, line.removeprefix("error: "))]
    [message] = slack.requests
    assert "would delete 10 of 20" in json.dumps(message.json())

    assert counts(sync(env, "ByTime", "--yes"))["deleted"] == 10
    assert ids_in(dbs, "items") == set(range(11, 21))


def test_a_transform_deleting_too_much_is_stopped_at_the_batch_that_crosses_the_limit(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 20)
    assert sync(env, "Renamed").code == 0
    change(dbs, list(range(1, 9)), "v = 'purge'")  # Delete markers: not countable ahead

    refused = run_cli([JOB, "Renamed"], {**env, **GUARDED})

    assert refused.code == 1
    assert "error: Renamed: would delete 4 of 20 row(s)" in refused.stderr
    assert len(ids_in(dbs, "items_renamed", "old_id")) == 20  # the first batch rolled back


def test_verify_keys_counts_a_soft_deleted_row_as_gone(
    dbs: TestDatabases, env: dict[str, str]
) -> None:
    add_items(dbs, 30)
    assert sync(env, "ByTime").code == 0
    # Flagged without moving the cursor: no run will see it, only verify.
    dbs.query_core('UPDATE items SET "deletedAt" = now() WHERE id = 17')

    found = run_cli([JOB, "--verify", "--keys", "--json", "ByTime"], env)
    full = run_cli([JOB, "--verify", "--json", "ByTime"], env)

    assert found.code == 1 and json.loads(found.stdout)["examples"] == ["id=17"]
    assert full.code == 1 and json.loads(full.stdout)["counts"]["extra"] == 1
    assert run_cli([JOB, "--verify", "--keys", "--repair", "ByTime"], env).code == 0
    assert 17 not in ids_in(dbs, "items")
