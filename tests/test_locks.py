"""Guarantee 10 (docs/guarantees.md): one run per definition at a time (advisory lock in analytics);
others in parallel."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dbtools import TestDatabases, finish, run_cli, start_cli
from faultkit import EVENTS_ANALYTICS, JOB, create_events, events_in, fault_env, insert_events

# First loads here read in cursor order, batch by batch: this module tests batches.
pytestmark = pytest.mark.usefixtures("cursor_order_first_loads")

WAIT_FOR_FILE_S = 60.0


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT_FOR_FILE_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


@pytest.fixture
def events(dbs: TestDatabases) -> None:
    create_events(dbs)
    insert_events(dbs, 50)


def test_three_runs_at_once_one_works_two_exit_75(
    dbs: TestDatabases, events: None, tmp_path: Path
) -> None:
    env = fault_env(dbs, tmp_path, "blocking")
    holder = start_cli([JOB, "Events"], env, cwd=tmp_path)
    try:
        _wait_for(tmp_path / "started")
        losers = [start_cli([JOB, "Events"], env, cwd=tmp_path) for _ in range(2)]
        lost = [finish(p) for p in losers]
    finally:
        (tmp_path / "release").touch()
        won = finish(holder)
    assert won.code == 0, won.stderr
    for outcome in lost:
        assert outcome.code == 75
        assert outcome.error_lines == [
            "error: Events: another run of export-to-pg Events holds its lock (taken in"
            " analytics); nothing was done: let that run finish, then run again"
        ]
        assert "Traceback" not in outcome.stderr
    assert events_in(dbs, "analytics") == events_in(dbs, "core")
    # The losers wrote nothing, not even a run record.
    assert dbs.query_analytics("SELECT status FROM tablesync.runs") == [("succeeded",)]


def test_the_lock_is_free_again_after_a_run(
    dbs: TestDatabases, events: None, tmp_path: Path
) -> None:
    env = fault_env(dbs, tmp_path, "blocking")
    (tmp_path / "release").touch()
    assert run_cli([JOB, "Events"], env, cwd=tmp_path).code == 0
    insert_events(dbs, 5)
    assert run_cli([JOB, "Events"], env, cwd=tmp_path).code == 0
    assert events_in(dbs, "analytics") == events_in(dbs, "core")


def test_all_jobs_2_runs_two_definitions_at_once(
    dbs: TestDatabases, events: None, tmp_path: Path
) -> None:
    dbs.query_analytics(
        EVENTS_ANALYTICS.replace("analytics_raw.events", "analytics_raw.events_right")
    )
    env = fault_env(dbs, tmp_path, "barrier")
    result = run_cli([JOB, "--all", "--jobs", "2"], env, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert sorted(line.split(":")[0] for line in result.stdout.splitlines()) == ["Left", "Right"]
    core = events_in(dbs, "core")
    assert events_in(dbs, "analytics") == core
    right = dbs.query_analytics("SELECT count(*) FROM analytics_raw.events_right")
    assert right == [(len(core),)]


def test_jobs_must_be_a_positive_number(dbs: TestDatabases, events: None, tmp_path: Path) -> None:
    env = fault_env(dbs, tmp_path, "events")
    result = run_cli([JOB, "--all", "--jobs", "0"], env, cwd=tmp_path)
    assert result.code == 2
    assert len(result.error_lines) == 1
    assert "--jobs" in result.error_lines[0]
