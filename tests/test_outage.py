"""Outages: the database server restarted mid-run is ridden out, the run reconnecting and
going on from its last committed batch (TABLESYNC_RUN_RETRIES); with no retries left it
is one clean failure naming the database, and the rerun is exact. Connecting retries
transient errors a bounded, configurable number of times; configuration errors (wrong
password, no such database) never retry.

Core and analytics live on the same test server, so a restart takes both
down; the two tests differ in which connection notices first: analytics (a
batch in flight, writing to staging) or core (the run waiting for a core
writer, analytics idle). Network faults of one database at a time, at every
phase, are tests/test_faults.py.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbtools import CliResult, TestDatabases, finish, run_cli, start_cli
from faultkit import JOB, create_events, events_in, fault_env, insert_events

# First loads here read in cursor order, batch by batch: this module tests batches.
pytestmark = pytest.mark.usefixtures("cursor_order_first_loads")


def _wait_until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _one_at_a_time_rows(dbs: TestDatabases, count: int) -> None:
    # Distinct now() per row, so batches split where the test expects.
    for n in range(1, count + 1):
        dbs.query_core("INSERT INTO events (payload) VALUES (%s)", (f"p{n}",))


def _runs(dbs: TestDatabases) -> list[str]:
    return [r[0] for r in dbs.query_analytics("SELECT status FROM tablesync.runs ORDER BY id")]


LOST = re.compile(r"lost the (core|analytics|core and analytics) database connection: ")


def _runs_resumed(dbs: TestDatabases) -> list[tuple[str, int]]:
    return dbs.query_analytics("SELECT status, resumes FROM tablesync.runs ORDER BY id")


def _ridden_out_or_failed(dbs: TestDatabases, outcome: CliResult, retries: str, name: str) -> None:
    """With retries the run resumed and succeeded in one record; without, it failed, its
    one error line naming the database lost."""
    assert "Traceback" not in outcome.stderr
    if retries != "0":
        assert outcome.code == 0, outcome.stderr
        assert "resuming from its last committed batch" in outcome.stderr
        ((status, resumes),) = _runs_resumed(dbs)
        assert status == "succeeded" and resumes >= 1
        return
    assert outcome.code == 1, outcome.stderr
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert outcome.error_lines[0].startswith(f"error: {name}: lost the "), outcome.stderr
    assert LOST.search(outcome.error_lines[0]), outcome.error_lines[0]


@pytest.mark.parametrize("retries", ["0", "3"])
def test_restart_during_a_batch_is_ridden_out_or_fails_cleanly(
    dbs: TestDatabases, tmp_path: Path, retries: str
) -> None:
    create_events(dbs)
    _one_at_a_time_rows(dbs, 50)
    env = {**fault_env(dbs, tmp_path, "blocked_in_batch_two"), "TABLESYNC_RUN_RETRIES": retries}
    run = start_cli([JOB, "Events"], env, cwd=tmp_path)
    _wait_until((tmp_path / "started").exists, "batch 2")
    dbs.server.restart()
    (tmp_path / "release").touch()
    outcome = finish(run)
    _ridden_out_or_failed(dbs, outcome, retries, "Events")
    if retries == "0":
        assert events_in(dbs, "analytics") == dict(list(events_in(dbs, "core").items())[:20])
        (tmp_path / "resumed").touch()
        resumed = run_cli([JOB, "Events"], env, cwd=tmp_path)
        assert resumed.code == 0, resumed.stderr
        assert _runs(dbs)[0] in ("failed", "abandoned")
        assert _runs(dbs)[1:] == ["succeeded"]
    assert events_in(dbs, "analytics") == events_in(dbs, "core")


@pytest.mark.parametrize("retries", ["0", "3"])
def test_restart_while_core_is_busy_is_ridden_out_or_fails_cleanly(
    dbs: TestDatabases, tmp_path: Path, retries: str
) -> None:
    create_events(dbs)
    insert_events(dbs, 10)
    env = {**fault_env(dbs, tmp_path, "events"), "TABLESYNC_RUN_RETRIES": retries}
    writer = psycopg.connect(dbs.core_url)
    writer.execute("INSERT INTO events (payload) VALUES ('late')")
    run = start_cli([JOB, "EventsById"], {**env, "TABLESYNC_WRITER_WAIT_S": "60"}, cwd=tmp_path)
    # The run record exists once the run holds its lock and waits for the writer.
    _wait_until(lambda: _runs(dbs) == ["running"], "the run to wait for the core writer")
    dbs.server.restart()
    outcome = finish(run)
    writer.close()
    _ridden_out_or_failed(dbs, outcome, retries, "EventsById")
    if retries == "0":
        assert events_in(dbs, "analytics") == {}
        resumed = run_cli([JOB, "EventsById"], env, cwd=tmp_path)
        assert resumed.code == 0, resumed.stderr
        assert _runs(dbs) in (["failed", "succeeded"], ["abandoned", "succeeded"])
    assert events_in(dbs, "analytics") == events_in(dbs, "core")


@pytest.fixture
def dead_port() -> int:
    """A local port with nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("retries", [0, 3])
def test_unreachable_server_is_retried_a_bounded_number_of_times(
    dbs: TestDatabases, tmp_path: Path, dead_port: int, retries: int
) -> None:
    create_events(dbs)
    env = fault_env(dbs, tmp_path, "events")
    env["DATABASE_URL_ANALYTICS"] = f"postgresql://tablesync@127.0.0.1:{dead_port}/analytics"
    env["TABLESYNC_CONNECT_RETRIES"] = str(retries)
    result = run_cli([JOB, "EventsByTime"], env, cwd=tmp_path)
    assert result.code == 1
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith("error: cannot connect to the analytics database: ")
    assert f"gave up after {retries + 1} attempt(s)" in result.error_lines[0]
    attempts = [line for line in result.stderr.splitlines() if "retrying in" in line]
    assert len(attempts) == retries
    for n, line in enumerate(attempts, start=1):
        assert f"attempt {n} of {retries + 1}" in line


def test_a_missing_database_is_never_retried(dbs: TestDatabases, tmp_path: Path) -> None:
    create_events(dbs)
    env = fault_env(dbs, tmp_path, "events")
    env["DATABASE_URL_ANALYTICS"] = dbs.analytics_url.replace("/ts_", "/ts_missing_")
    env["TABLESYNC_CONNECT_RETRIES"] = "5"
    result = run_cli([JOB, "EventsByTime"], env, cwd=tmp_path)
    assert result.code == 2
    assert len(result.error_lines) == 1
    assert "does not exist" in result.error_lines[0]
    assert "retrying" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TABLESYNC_CONNECT_RETRIES", "many"), ("TABLESYNC_CONNECT_BACKOFF_S", "-1")],
)
def test_retry_settings_are_checked(
    dbs: TestDatabases, tmp_path: Path, variable: str, value: str
) -> None:
    create_events(dbs)
    env = fault_env(dbs, tmp_path, "events")
    result = run_cli([JOB, "EventsByTime"], {**env, variable: value}, cwd=tmp_path)
    assert result.code == 2
    assert len(result.error_lines) == 1
    assert variable in result.error_lines[0]


def test_the_server_coming_back_during_the_retries_is_a_success(
    dbs: TestDatabases, tmp_path: Path
) -> None:
    create_events(dbs)
    insert_events(dbs, 5)
    env = fault_env(dbs, tmp_path, "events")
    # Generous retries: the server comes back while the CLI is still retrying.
    env.update(TABLESYNC_CONNECT_RETRIES="100", TABLESYNC_CONNECT_BACKOFF_S="0.2")
    embedded = dbs.server.embedded
    assert embedded is not None
    stderr_path = tmp_path / "stderr.txt"
    embedded.stop()
    try:
        with stderr_path.open("w") as stderr:
            run = start_cli(
                [JOB, "EventsByTime"],
                env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=stderr.fileno(),
            )
            _wait_until(lambda: "retrying in" in stderr_path.read_text(), "a retry")
    finally:
        embedded.start()
    assert run.wait(timeout=120) == 0, stderr_path.read_text()
    assert events_in(dbs, "analytics") == events_in(dbs, "core")
