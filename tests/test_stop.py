"""Rule 13: a run asked to stop by SIGTERM or SIGINT stops within TABLESYNC_STOP_TIMEOUT_S.

The batch in flight rolls back (or, if its commit is under way, finishes), the
transform workers end with the run, the record says ``cancelled`` with the
position reached, Slack hears of it, one ``error:`` line, exit 143 or 130. A
second signal ends the run at once; a stop that cannot finish in time ends at
the deadline. Every stopped run is followed by a rerun that must make
analytics equal core with no row written twice.

Runs go through the real CLI on tests/definitions/stop.py. Instants: a kill point
sending the signal (services/base/testhooks.py), a
transform that waits at row p35 (batch 4) until the run is stopped, or the
destination locked by the test so the run's query waits on the server.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbtools import CliResult, TestDatabases, finish, run_cli, start_cli, with_definitions
from faultkit import (
    EVENTS_ANALYTICS,
    JOB,
    create_events,
    events_in,
    fault_env,
    insert_one_by_one,
    log_writes,
    waiting_on_locks,
    written_twice,
)
from runtools import runs
from slack_server import SlackServer, serve_slack

ROWS = 60  # in batches of 10 (tests/definitions/stop.py): row p35 is in batch 4
STOP_TIMEOUT_S = 5.0
SIGNALS: list[signal.Signals] = [signal.SIGTERM, signal.SIGINT]
# Stops between cursor batches; a backfill stopped between chunks is tests/test_backfill.py.
pytestmark = pytest.mark.usefixtures("cursor_order_first_loads")


SLOW_COMMIT = """
CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN IF NEW.id = 25 THEN PERFORM pg_sleep(1); END IF; RETURN NULL; END$$;
CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON analytics_raw.events
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();
"""


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with serve_slack() as server:
        yield server


@pytest.fixture
def env(dbs: TestDatabases, tmp_path: Path, slack: SlackServer) -> dict[str, str]:
    """The CLI on tests/definitions/stop.py, Slack posting to the local stand-in."""
    create_events(dbs)
    dbs.query_analytics(EVENTS_ANALYTICS.replace("analytics_raw.events", "analytics_raw.events_t"))
    log_writes(dbs, "analytics_raw.events", "analytics_raw.events_t")
    insert_one_by_one(dbs, ROWS)
    env = fault_env(dbs, tmp_path, "stop")
    env.update(SLACK_WEBHOOK_URL=slack.webhook_url, TABLESYNC_STOP_TIMEOUT_S=str(STOP_TIMEOUT_S))
    return env


def _code(signum: int) -> int:
    return 128 + signum


def _wait_for(check: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _position_id(dbs: TestDatabases) -> str | None:
    saved = dbs.query_analytics("SELECT cursor_id FROM tablesync.positions")
    return saved[0][0] if saved else None


def _destination_ids(dbs: TestDatabases, table: str) -> list[int]:
    return [r[0] for r in dbs.query_analytics(f"SELECT id FROM {table} ORDER BY id".encode())]


def _assert_cancelled(
    dbs: TestDatabases,
    outcome: CliResult,
    slack: SlackServer,
    signum: signal.Signals,
    *,
    reached: int,
) -> dict[str, Any]:
    """Exit 130/143, one error line, the record cancelled at id ``reached``, Slack told."""
    name = signal.Signals(signum).name
    assert outcome.code == _code(signum), outcome.stderr
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert f"stopped by {name}" in outcome.error_lines[0]
    assert "Traceback" not in outcome.stderr and "resuming" not in outcome.stderr
    assert "error:" not in outcome.stdout  # the summary line does not say it a second time
    (record,) = [r for r in runs(dbs) if r["status"] != "succeeded"]
    assert record["status"] == "cancelled"
    assert record["cursor_after"]["id"] == str(reached)
    assert f"stopped by {name}" in record["error_text"]
    (posted,) = slack.requests
    assert "cancelled" in posted.body and name in posted.body
    return record


def _rerun_is_exact(dbs: TestDatabases, env: dict[str, str], cwd: Path, *names: str) -> None:
    (cwd / "rerun").touch()
    rerun = run_cli([JOB, *names], env, cwd=cwd)
    assert rerun.code == 0, rerun.stderr
    core = events_in(dbs, "core")
    for table in {"events" if name == "Copied" else "events_t" for name in names}:
        sums = f"SELECT id, md5(ROW(id, at, payload)::text) FROM analytics_raw.{table}"
        assert {r[0]: r[1] for r in dbs.query_analytics(sums.encode())} == core, table
    assert written_twice(dbs) == []


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize(
    ("instant", "reached"),
    # Row 25: batch 3 is being copied; it rolls back.
    # Batch 3's rows written and its position saved, not committed: it is let finish.
    [("copy:25", 20), ("commit:3", 30)],
    ids=["mid-COPY", "during-the-commit"],
)
def test_stopped_mid_copy_rolls_back_and_during_the_commit_finishes(
    dbs: TestDatabases,
    env: dict[str, str],
    tmp_path: Path,
    slack: SlackServer,
    signum: signal.Signals,
    instant: str,
    reached: int,
) -> None:
    if instant.startswith("commit"):
        # Batch 3's commit takes a second (a deferred trigger at row 25), long enough
        # for the stop's cancels to reach it if they were sent.
        dbs.query_analytics(SLOW_COMMIT)
    kill = {"TABLESYNC_TEST_KILL_AT": instant, "TABLESYNC_TEST_KILL_WITH": signum.name}
    outcome = run_cli([JOB, "Copied"], {**env, **kill}, cwd=tmp_path)
    _assert_cancelled(dbs, outcome, slack, signum, reached=reached)
    assert _destination_ids(dbs, "analytics_raw.events") == list(range(1, reached + 1))
    _rerun_is_exact(dbs, env, tmp_path, "Copied")


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_stopped_mid_transform_ends_the_workers_too(
    dbs: TestDatabases,
    env: dict[str, str],
    tmp_path: Path,
    slack: SlackServer,
    signum: signal.Signals,
) -> None:
    proc = start_cli([JOB, "Held"], env, cwd=tmp_path, new_session=True)
    started = tmp_path / "started-workers"
    _wait_for(started.exists, "a worker to hold batch 4")
    _wait_for(lambda: _position_id(dbs) == "30", "batches 1-3 to be committed")
    worker = int(started.read_text())
    assert worker != proc.pid
    stopped_at = time.monotonic()
    # Ctrl-C reaches the whole process group; SIGTERM only the runner, as Kubernetes sends it.
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    outcome = finish(proc)
    assert time.monotonic() - stopped_at < STOP_TIMEOUT_S
    _assert_cancelled(dbs, outcome, slack, signum, reached=30)
    _wait_for(lambda: not Path(f"/proc/{worker}").exists(), "the worker to end")
    _rerun_is_exact(dbs, env, tmp_path, "Held")


def test_a_second_signal_ends_the_run_at_once(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    proc = start_cli([JOB, "HeldSerial"], env, cwd=tmp_path)
    _wait_for((tmp_path / "started-serial").exists, "the transform to hold batch 4")
    proc.send_signal(signal.SIGTERM)  # the transform never returns: the stop cannot finish
    time.sleep(0.3)
    second = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    outcome = finish(proc)
    assert time.monotonic() - second < 2
    assert outcome.code == _code(signal.SIGTERM)
    assert "stopped at once by a second signal" in outcome.error_lines[0]
    assert [r["status"] for r in runs(dbs)] == ["running"]  # the next run marks it abandoned
    _rerun_is_exact(dbs, env, tmp_path, "HeldSerial")
    assert [r["status"] for r in runs(dbs)] == ["abandoned", "succeeded"]


def test_a_stop_that_cannot_finish_ends_at_the_deadline(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    proc = start_cli([JOB, "HeldSerial"], {**env, "TABLESYNC_STOP_TIMEOUT_S": "1.5"}, cwd=tmp_path)
    _wait_for((tmp_path / "started-serial").exists, "the transform to hold batch 4")
    stopped_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    outcome = finish(proc)
    assert 1.4 < time.monotonic() - stopped_at < 4
    assert outcome.code == _code(signal.SIGTERM)
    assert "did not stop within TABLESYNC_STOP_TIMEOUT_S=1.5 s" in outcome.error_lines[0]
    _rerun_is_exact(dbs, env, tmp_path, "HeldSerial")


def _lock_destinations(dbs: TestDatabases) -> psycopg.Connection[Any]:
    """A transaction holding both destinations, so the runs' queries wait on the server."""
    locker = psycopg.connect(dbs.analytics_url)
    locker.execute("LOCK analytics_raw.events, analytics_raw.events_t IN ACCESS EXCLUSIVE MODE")
    return locker


def test_all_jobs_stops_every_definition_and_cancels_their_queries(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    locker = _lock_destinations(dbs)
    try:
        proc = start_cli(
            [JOB, "--all", "--jobs", "2"], with_definitions(env, "stop_copies"), cwd=tmp_path
        )
        _wait_for(lambda: waiting_on_locks(dbs) == 2, "both runs to wait on the lock")
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        outcome = finish(proc)
        assert time.monotonic() - stopped_at < STOP_TIMEOUT_S
    finally:
        locker.close()
    assert outcome.code == _code(signal.SIGTERM), outcome.stderr
    assert len(outcome.error_lines) == 2, outcome.stderr
    assert sorted(r["status"] for r in runs(dbs)) == ["cancelled", "cancelled"]
    _rerun_is_exact(dbs, env, tmp_path, "Copied", "CopiedToo")


def _child_of(pid: int) -> int:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def test_sigterm_stops_the_runner_as_pid_1_of_a_container(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    locker = _lock_destinations(dbs)
    try:
        proc = start_cli(
            [JOB, "Copied"], env, cwd=tmp_path, prefix=["unshare", "-fp", "--mount-proc"]
        )
        _wait_for(lambda: waiting_on_locks(dbs) == 1, "the run to wait on the lock")
        init = _child_of(proc.pid)  # PID 1 in its namespace, seen from outside
        assert Path(f"/proc/{init}/status").read_text().count("NSpid:\t") == 1
        assert "\t1\n" in Path(f"/proc/{init}/status").read_text().split("NSpid:")[1][:40]
        os.kill(init, signal.SIGTERM)
        outcome = finish(proc)
    finally:
        locker.close()
    assert outcome.code == _code(signal.SIGTERM), outcome.stderr
    assert [r["status"] for r in runs(dbs)] == ["cancelled"]
    _rerun_is_exact(dbs, env, tmp_path, "Copied")
