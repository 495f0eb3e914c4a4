"""Guarantee 7 (docs/guarantees.md): every run of a definition leaves a run record in
``tablesync.runs``.

Through the real command line: a success, a failure and a run whose process was killed
(marked ``abandoned`` by the next run) each leave a record whose counts, positions, host,
pid and error text match what happened, with no password in it.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from dbtools import TestDatabases, run_cli, start_cli, wait_for
from faultkit import JOB, insert_events
from runtools import PASSWORD, counts, runs, secret_env

from services.store.runs import ABANDONED_TEXT

# First loads here read in cursor order, batch by batch: this module tests batches.
pytestmark = pytest.mark.usefixtures("cursor_order_first_loads")

WAIT_S = 60.0


@pytest.fixture
def env(dbs: TestDatabases, tmp_path: Path, password_role: str) -> dict[str, str]:
    return secret_env(dbs, tmp_path, password_role)


def saved_position(dbs: TestDatabases) -> dict[str, Any]:
    rows = dbs.query_analytics("SELECT cursor_value, cursor_id FROM tablesync.positions")
    assert len(rows) == 1
    return {"value": rows[0][0], "id": rows[0][1]}


def position_of(dbs: TestDatabases, event_id: int) -> dict[str, Any]:
    """The position a run saves after the core event ``event_id``."""
    rows = dbs.query_core("SELECT at::text, id::text FROM events WHERE id = %s", (event_id,))
    return {"value": rows[0][0], "id": rows[0][1]}


def assert_ran_here(record: dict[str, Any]) -> None:
    assert record["host"] == socket.gethostname()
    assert isinstance(record["pid"], int) and record["pid"] > 0 and record["pid"] != os.getpid()
    assert record["command"].endswith("export-to-pg Events")
    assert record["finished_at"] is not None and record["finished_at"] >= record["started_at"]


# --- success ------------------------------------------------------------------------------


def test_a_success_records_what_each_run_did(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    insert_events(dbs, 25)

    assert run_cli([JOB, "Events"], env, cwd=tmp_path).code == 0
    # 5 rows change, 3 are new, 2 of them skipped by the transform.
    dbs.query_core("UPDATE events SET payload = payload || '!', at = now() WHERE id <= 5")
    insert_events(dbs, 1)
    insert_events(dbs, 2, tag="skip")
    assert run_cli([JOB, "Events"], env, cwd=tmp_path).code == 0
    assert run_cli([JOB, "Events"], env, cwd=tmp_path).code == 0  # nothing new

    first, second, third = runs(dbs)
    assert [r["status"] for r in (first, second, third)] == ["succeeded"] * 3
    assert counts(first) == (25, 25, 0, 0, 0)
    assert counts(second) == (8, 1, 5, 2, 0)
    assert counts(third) == (0, 0, 0, 0, 0)
    assert first["cursor_before"] is None
    assert first["cursor_after"] == second["cursor_before"] == position_of(dbs, 25)
    assert second["cursor_after"] == third["cursor_before"] == third["cursor_after"]
    assert third["cursor_after"] == saved_position(dbs) == position_of(dbs, 28)
    for record in (first, second, third):
        assert record["error_text"] is None
        assert_ran_here(record)


# --- failure ------------------------------------------------------------------------------


def test_a_failure_records_the_committed_batches_and_the_error(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    insert_events(dbs, 25)
    dbs.query_core("UPDATE events SET payload = 'boom' WHERE id = 15")

    outcome = run_cli([JOB, "Events"], env, cwd=tmp_path)

    assert outcome.code == 1
    (record,) = runs(dbs)
    assert record["status"] == "failed"
    # The first batch (ids 1-10) committed; the second failed at id 15 and rolled back:
    # id 15 counts as read and as the one error.
    assert counts(record) == (11, 10, 0, 0, 1)
    assert record["cursor_before"] is None
    assert record["cursor_after"] == saved_position(dbs) == position_of(dbs, 10)
    assert "id=15" in record["error_text"] and "payload says boom" in record["error_text"]
    assert_ran_here(record)
    assert PASSWORD not in repr(record)
    assert PASSWORD not in outcome.stdout + outcome.stderr


# --- abandoned ----------------------------------------------------------------------------


def runner_sessions(dbs: TestDatabases) -> int:
    rows = dbs.query_analytics(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name LIKE 'tablesync:%%'"
    )
    return int(rows[0][0])


def test_a_killed_run_stays_running_until_the_next_run_marks_it_abandoned(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    insert_events(dbs, 25)
    flag = tmp_path / "blocked"
    # Blocks in the transform of the second batch, after the first one committed.
    blocked = {"TEST_BLOCK_AT": "p15", "TEST_BLOCKED_FLAG": str(flag)}
    proc = start_cli([JOB, "Events"], {**env, **blocked}, cwd=tmp_path)
    try:
        wait_for("the run to reach row 15", flag.exists)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=WAIT_S)
    (dead,) = runs(dbs)
    assert dead["status"] == "running" and dead["finished_at"] is None
    assert counts(dead) == (10, 10, 0, 0, 0)
    assert dead["pid"] == proc.pid
    # The server notices the closed connections and drops the dead run's lock.
    wait_for("the dead run's sessions to end", lambda: runner_sessions(dbs) == 0)

    assert run_cli([JOB, "Events"], env, cwd=tmp_path).code == 0

    abandoned, rerun = runs(dbs)
    assert abandoned["id"] == dead["id"]
    assert abandoned["status"] == "abandoned"
    assert abandoned["error_text"] == ABANDONED_TEXT
    assert abandoned["finished_at"] is not None
    assert counts(abandoned) == (10, 10, 0, 0, 0)  # what it committed before it died
    assert abandoned["cursor_after"] == position_of(dbs, 10)
    assert rerun["status"] == "succeeded"
    assert counts(rerun) == (15, 15, 0, 0, 0)
    assert rerun["cursor_before"] == abandoned["cursor_after"]
    assert rerun["cursor_after"] == saved_position(dbs) == position_of(dbs, 25)
    assert_ran_here(rerun)
    assert dbs.query_analytics("SELECT count(*) FROM analytics_raw.events") == [(25,)]
