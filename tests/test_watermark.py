"""Guarantee 9 (docs/guarantees.md): rows committed out of order in core are never skipped.

The scene, for both cursor kinds: a core transaction inserts a row and stays
open while later rows commit and a sync runs; then it commits and the next
sync must still bring its row. Without the watermark the first sync moves
the position past the late row and it is lost for good.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from authkit import Role, password_auth, role  # noqa: F401, F811 - fixtures
from dbtools import TestDatabases, run_cli
from faultkit import JOB, create_events, events_in, fault_env, insert_events
from psycopg import sql

# First loads here read in cursor order, batch by batch: this module tests batches.
pytestmark = pytest.mark.usefixtures("cursor_order_first_loads")


@pytest.fixture
def env(dbs: TestDatabases, tmp_path: Path) -> dict[str, str]:
    """The CLI on tests/definitions/events.py (EventsByTime, EventsById), tables created."""
    create_events(dbs)
    return fault_env(dbs, tmp_path, "events")


@pytest.fixture
def late_writer(dbs: TestDatabases) -> Iterator[psycopg.Connection[Any]]:
    """A core session whose transaction inserted one row and has not committed."""
    conn = psycopg.connect(dbs.core_url)
    conn.execute("INSERT INTO events (payload) VALUES ('late')")
    try:
        yield conn
    finally:
        conn.close()


@pytest.mark.parametrize("definition", ["EventsByTime", "EventsById"])
def test_a_row_committed_late_is_not_skipped(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path, definition: str
) -> None:
    insert_events(dbs, 5, "before")
    assert run_cli([JOB, definition], env, cwd=tmp_path).code == 0
    conn = psycopg.connect(dbs.core_url)
    conn.execute("INSERT INTO events (payload) VALUES ('late')")  # id 6, now() = its start
    insert_events(dbs, 5, "after")  # ids 7..11 commit first, with later now()
    held = run_cli([JOB, definition, "--json"], env, cwd=tmp_path)
    conn.commit()
    conn.close()
    assert held.code == 0, held.stderr
    assert "late" not in {p for p in _payloads(dbs)}
    resumed = run_cli([JOB, definition], env, cwd=tmp_path)
    assert resumed.code == 0, resumed.stderr
    assert events_in(dbs, "analytics") == events_in(dbs, "core")
    assert len(events_in(dbs, "core")) == 11


@pytest.mark.parametrize("definition", ["EventsByTime", "EventsById"])
def test_a_run_that_holds_rows_back_says_so(
    dbs: TestDatabases,
    env: dict[str, str],
    tmp_path: Path,
    late_writer: psycopg.Connection[Any],
    definition: str,
) -> None:
    insert_events(dbs, 3, "after")
    line = run_cli([JOB, definition], env, cwd=tmp_path)
    as_json = json.loads(run_cli([JOB, definition, "--json"], env, cwd=tmp_path).stdout)
    assert line.code == 0, line.stderr
    assert "held back: " in line.stdout
    assert "open core transaction" in line.stdout
    assert "open core transaction" in (as_json[0]["held_back"] or "")
    assert events_in(dbs, "analytics") == {}


def test_no_open_transaction_means_nothing_held_back(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    insert_events(dbs, 3)
    for definition in ("EventsByTime", "EventsById"):
        result = json.loads(run_cli([JOB, definition, "--json"], env, cwd=tmp_path).stdout)[0]
        assert result["held_back"] is None
        assert result["status"] == "succeeded"
    assert events_in(dbs, "analytics") == events_in(dbs, "core")


def test_an_open_transaction_with_nothing_behind_it_holds_nothing_back(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    insert_events(dbs, 3)
    with psycopg.connect(dbs.core_url) as idle_in_transaction:
        idle_in_transaction.execute("SELECT 1")  # open, but no row waits behind it
        result = json.loads(run_cli([JOB, "EventsByTime", "--json"], env, cwd=tmp_path).stdout)[0]
    assert result["held_back"] is None
    assert events_in(dbs, "analytics") == events_in(dbs, "core")


def test_an_id_cursor_waits_for_a_writer_that_ends_within_the_wait(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path, late_writer: psycopg.Connection[Any]
) -> None:
    insert_events(dbs, 3, "after")
    # The writer commits while the run waits for it (the wait is generous
    # here, so this is about order, not speed): everything comes in one run.
    threading.Timer(0.5, late_writer.commit).start()
    result = run_cli([JOB, "EventsById"], {**env, "TABLESYNC_WRITER_WAIT_S": "30"}, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "held back" not in result.stdout
    assert events_in(dbs, "analytics") == events_in(dbs, "core")
    assert len(events_in(dbs, "core")) == 4


def test_writer_wait_must_be_a_number(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    insert_events(dbs, 1)
    result = run_cli([JOB, "EventsById"], {**env, "TABLESYNC_WRITER_WAIT_S": "soon"}, cwd=tmp_path)
    assert result.code == 2
    assert result.error_lines == [
        "error: TABLESYNC_WRITER_WAIT_S='soon' is not a number of seconds >= 0"
    ]
    assert dbs.query_analytics("SELECT count(*) FROM tablesync.runs") == [(0,)]


def test_a_select_only_core_role_does_not_skip_a_late_row_it_cannot_see(
    dbs: TestDatabases,
    env: dict[str, str],
    tmp_path: Path,
    role: Role,  # noqa: F811
) -> None:
    # The core role sees neither the writer's start nor its query (no
    # pg_read_all_stats): the run waits for it, then holds its position.
    dbs.query_core(sql.SQL("GRANT SELECT ON events TO {}").format(sql.Identifier(role.name)))
    env["DATABASE_URL_CORE"] = role.url(dbs.core_url)
    insert_events(dbs, 2, "before")
    assert run_cli([JOB, "EventsByTime"], env, cwd=tmp_path).code == 0
    writer = psycopg.connect(dbs.core_url)
    writer.execute("INSERT INTO events (payload) VALUES ('late')")
    insert_events(dbs, 2, "after")
    held = run_cli([JOB, "EventsByTime"], env, cwd=tmp_path)
    writer.commit()
    writer.close()
    assert held.code == 0, held.stderr
    assert "held back: 1 open core transaction(s) of other roles did not end" in held.stdout
    assert len(events_in(dbs, "analytics")) == 2
    assert run_cli([JOB, "EventsByTime"], env, cwd=tmp_path).code == 0
    assert events_in(dbs, "analytics") == events_in(dbs, "core")


def _payloads(dbs: TestDatabases) -> list[str]:
    return [r[0] for r in dbs.query_analytics("SELECT payload FROM analytics_raw.events")]
