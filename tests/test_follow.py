"""Rule 20: ``--follow`` keeps definitions in step from one process until stopped.

Every follower is the real command line on the test databases
(tests/definitions/follow.py), writers are real transactions on core, and the checks
compare core and analytics row by row.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbtools import CliResult, TestDatabases, finish, run_cli, start_cli, wait_for
from faultkit import (
    EVENTS_ANALYTICS,
    JOB,
    create_events,
    events_in,
    fault_env,
    insert_events,
    waiting_on_locks,
)
from runtools import runs
from slack_server import SlackServer, serve_slack

EVERY = "0.2s"
STOP_TIMEOUT_S = 5.0


@pytest.fixture
def follow_env(dbs: TestDatabases, tmp_path: Path) -> dict[str, str]:
    create_events(dbs)
    env = fault_env(dbs, tmp_path, "follow")
    env["TABLESYNC_STOP_TIMEOUT_S"] = str(STOP_TIMEOUT_S)
    return env


_STARTED: list[Any] = []


@pytest.fixture(autouse=True)
def no_follower_left() -> Iterator[None]:
    """A follower a failed test left running is killed, not left to the machine."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_follower(args: list[str], env: dict[str, str], cwd: Path) -> Any:
    """``run_job.py JOB --follow ARGS...``, killed at the test's end if still running."""
    proc = start_cli([JOB, "--verbose", "--follow", *args], env, cwd=cwd)
    _STARTED.append(proc)
    return proc


def follow(env: dict[str, str], cwd: Path, *names: str) -> Any:
    return start_follower(["--every", EVERY, *names], env, cwd)


def stop(proc: Any, signum: int = signal.SIGTERM) -> tuple[CliResult, float]:
    """Signal the follower; its result and how long it took to end."""
    started = time.monotonic()
    proc.send_signal(signum)
    result = ended(proc, timeout_s=STOP_TIMEOUT_S + 10)
    return result, time.monotonic() - started


def ended(proc: Any, *, timeout_s: float) -> CliResult:
    """The follower's result once it ends; killed (and the test failed) past ``timeout_s``."""
    try:
        return finish(proc, timeout_s=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        finish(proc)
        raise AssertionError(f"the follower did not end within {timeout_s} s") from None


def sessions(dbs: TestDatabases) -> list[dict[str, Any]]:
    """Every follower session, oldest first (on a connection of its own, closed: tests
    poll this)."""
    with psycopg.connect(dbs.analytics_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM tablesync.follower_sessions ORDER BY id")
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def create_events_t(dbs: TestDatabases) -> None:
    """``analytics_raw.events_t``, the second destination of tests/definitions/follow.py."""
    dbs.query_analytics(EVENTS_ANALYTICS.replace("analytics_raw.events", "analytics_raw.events_t"))


def in_step(dbs: TestDatabases) -> bool:
    return events_in(dbs, "core") == events_in(dbs, "analytics")


class Writers:
    """``count`` threads inserting and updating core events until stopped; one in three of
    each thread's transactions is held open ``hold_s`` before it commits."""

    def __init__(self, dbs: TestDatabases, count: int = 3, hold_s: float = 0.4) -> None:
        self.url, self.hold_s, self.stopping = dbs.core_url, hold_s, threading.Event()
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(count)]
        self.commits = 0

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def _write(self, n: int) -> None:
        i = 0
        while not self.stopping.is_set():
            try:
                i = self._write_until_lost(n, i)
            except psycopg.OperationalError:  # a server restart: what did not commit is gone
                time.sleep(0.2)

    def _write_until_lost(self, n: int, i: int) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopping.is_set():
                i += 1
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO events (payload) SELECT %s || g FROM generate_series(1, 3) g",
                        (f"w{n}-{i}-",),
                    )
                    conn.execute(
                        "UPDATE events SET payload = payload || '+', at = now()"
                        " WHERE id = (SELECT id FROM events ORDER BY random() LIMIT 1)"
                    )
                    if i % 3 == 0:
                        time.sleep(self.hold_s)
                self.commits += 1
                time.sleep(0.01)
        return i


def test_a_follower_keeps_a_table_exact_while_writers_run(
    dbs: TestDatabases, follow_env: dict[str, str], tmp_path: Path
) -> None:
    insert_events(dbs, 50)
    proc = follow(follow_env, tmp_path, "Copied")
    try:
        with Writers(dbs) as writers:
            time.sleep(3)
        assert writers.commits > 20
        wait_for("analytics to equal core", lambda: in_step(dbs), timeout_s=20)
    finally:
        result, took = stop(proc)
    assert result.code == 0, result.stderr
    assert took < STOP_TIMEOUT_S
    assert in_step(dbs)
    records = runs(dbs)
    # The first load (an ordinary run), then one record for the whole session: cycles
    # that found nothing left none.
    assert [(r["status"], r["origin"]) for r in records] == [
        ("succeeded", "follow"),
        ("succeeded", "follow"),
    ]
    assert "follower stopped: stopped by SIGTERM" in records[1]["note"]
    (session,) = sessions(dbs)
    assert session["state"] == "stopped"
    assert session["cycles"] >= 3, (session, result.stderr)
    assert session["rows_read"] == records[1]["rows_read"] > 0


def test_a_cron_run_of_a_followed_definition_exits_75(
    dbs: TestDatabases, follow_env: dict[str, str], tmp_path: Path
) -> None:
    insert_events(dbs, 20)
    heartbeat = tmp_path / "heartbeat"
    proc = follow({**follow_env, "TABLESYNC_HEARTBEAT_FILE": str(heartbeat)}, tmp_path, "Copied")
    try:
        wait_for("the follower's session", lambda: any(s["cycles"] > 2 for s in sessions(dbs)))
        insert_events(dbs, 5)
        cron = run_cli([JOB, "Copied"], follow_env, cwd=tmp_path)
        assert cron.code == 75, cron.stderr
        # The liveness probe of docs/operating.md's Deployment, on the follower's file.
        assert _probe(heartbeat) == 0
        aged = tmp_path / "aged-heartbeat"  # a follower that stopped touching it 5 minutes ago
        aged.touch()
        os.utime(aged, (time.time() - 300, time.time() - 300))
        assert _probe(aged) == 1
        touched = heartbeat.stat().st_mtime
        wait_for("the next round's touch", lambda: heartbeat.stat().st_mtime > touched)
    finally:
        result, _ = stop(proc)
    assert result.code == 0, result.stderr
    assert in_step(dbs)


def _probe(heartbeat: Path) -> int:
    """The exit code of the liveness probe docs/operating.md gives for a follower."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "operating.md").read_text()
    (command,) = re.findall(r'\["python", "-c", "(.*heartbeat.*)"\]', doc)
    script = command.replace("/tmp/heartbeat", str(heartbeat))
    return subprocess.run([sys.executable, "-c", script], check=False).returncode


def test_a_follower_rides_out_server_restarts_losing_and_duplicating_nothing(
    dbs: TestDatabases, follow_env: dict[str, str], tmp_path: Path
) -> None:
    # Core and analytics live on one test server: a restart takes both down at once.
    insert_events(dbs, 50)
    proc = follow(follow_env, tmp_path, "Copied")
    try:
        with Writers(dbs) as writers:
            wait_for("a few cycles", lambda: any(s["cycles"] > 3 for s in sessions(dbs)))
            dbs.close()
            dbs.server.restart()
            time.sleep(1.5)
            dbs.server.restart()
            time.sleep(1.5)
        assert writers.commits > 10
        wait_for("analytics to equal core", lambda: in_step(dbs), timeout_s=60)
        cycles = sessions(dbs)[0]["cycles"]
        wait_for("cycles after the restarts", lambda: sessions(dbs)[0]["cycles"] > cycles + 2)
    finally:
        result, _ = stop(proc)
    assert result.code == 0, result.stderr
    assert in_step(dbs)
    # Rows read add up to the rows core holds past the first load, each counted once
    # per version read (an update is read again), never more than what was written.
    assert proc.returncode == 0


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with serve_slack() as server:
        yield server


def test_a_failing_cycle_is_told_once_retried_and_its_recovery_told_once(
    dbs: TestDatabases, follow_env: dict[str, str], tmp_path: Path, slack: SlackServer
) -> None:
    create_events_t(dbs)
    insert_events(dbs, 20)
    env = {**follow_env, "SLACK_WEBHOOK_URL": slack.webhook_url}
    proc = follow(env, tmp_path, "Flaky")
    try:
        wait_for("a few cycles", lambda: any(s["cycles"] > 2 for s in sessions(dbs)))
        (tmp_path / "fail-now").touch()
        insert_events(dbs, 5, tag="bad")
        wait_for("the failure", lambda: sessions(dbs)[0]["state"] == "retrying")
        time.sleep(2.5)  # retries at 0.4, 0.8 and 1.6 s: each fails again
        status = run_cli([JOB, "--status", "--json", "Flaky"], env, cwd=tmp_path)
        assert json.loads(status.stdout)[0]["failing"] is True, status.stdout
        assert len(slack.requests) == 1, [r.body for r in slack.requests]
        assert [r["status"] for r in runs(dbs)] == ["succeeded", "failed"]
        (tmp_path / "fail-now").unlink()
        wait_for("the recovery", lambda: len(slack.requests) == 2, timeout_s=30)
        wait_for("analytics to hold every row", lambda: len(_rows_t(dbs)) == 25)
    finally:
        result, _ = stop(proc)
    assert result.code == 0, result.stderr
    assert "told to fail" in slack.requests[0].body
    assert "recovered" in slack.requests[1].body
    assert len(slack.requests) == 2
    records = runs(dbs)
    assert [r["status"] for r in records] == ["succeeded", "failed", "succeeded"]
    # What was written adds up over the records: 20 by the first load, 5 after.
    assert sum(r["rows_created"] for r in records) == 25


def _rows_t(dbs: TestDatabases) -> list[Any]:
    return list(dbs.query_analytics("SELECT id FROM analytics_raw.events_t"))


def test_a_definition_problem_stops_that_definition_and_the_others_go_on(
    dbs: TestDatabases, follow_env: dict[str, str], tmp_path: Path
) -> None:
    create_events_t(dbs)
    insert_events(dbs, 20)
    proc = follow(follow_env, tmp_path, "Copied", "CopiedToo")
    try:
        wait_for("both followed", lambda: sum(s["cycles"] > 2 for s in sessions(dbs)) == 2)
        dbs.query_analytics("ALTER TABLE analytics_raw.events_t DROP COLUMN payload")
        wait_for("CopiedToo to stop", lambda: sessions(dbs)[1]["state"] == "stopped")
        insert_events(dbs, 7, tag="after")
        wait_for("Copied to go on", lambda: in_step(dbs))
        assert proc.poll() is None
    finally:
        result, _ = stop(proc)
    assert result.code == 0, result.stderr
    assert "CopiedToo: no longer followed:" in result.stderr
    assert "payload" in sessions(dbs)[1]["error_text"]
    by_name = {(r["definition"], r["status"]) for r in runs(dbs)}
    assert ("CopiedToo", "failed") in by_name


def test_sigterm_mid_batch_rolls_it_back_and_exits_0_within_the_stop_timeout(
    dbs: TestDatabases, follow_env: dict[str, str], tmp_path: Path
) -> None:
    insert_events(dbs, 20)
    proc = follow(follow_env, tmp_path, "Copied")
    wait_for("a few cycles", lambda: any(s["cycles"] > 2 for s in sessions(dbs)))
    locker = psycopg.connect(dbs.analytics_url)
    try:
        locker.execute("LOCK analytics_raw.events IN ACCESS EXCLUSIVE MODE")
        insert_events(dbs, 30, tag="late")
        wait_for("the cycle to wait on the lock", lambda: waiting_on_locks(dbs) >= 1)
        result, took = stop(proc)
    finally:
        locker.rollback()
        locker.close()
    assert result.code == 0, result.stderr
    assert took < STOP_TIMEOUT_S
    assert len(events_in(dbs, "analytics")) == 20  # the batch in flight rolled back
    (first_load, session) = runs(dbs)
    assert session["status"] == "succeeded" and session["rows_read"] == 0
    rerun = run_cli([JOB, "Copied"], follow_env, cwd=tmp_path)
    assert rerun.code == 0, rerun.stderr
    assert in_step(dbs)


def test_with_nothing_left_to_follow_the_follower_exits_2_naming_the_problem(
    dbs: TestDatabases, follow_env: dict[str, str], tmp_path: Path
) -> None:
    create_events_t(dbs)
    insert_events(dbs, 5)
    proc = follow(follow_env, tmp_path, "CopiedToo")
    wait_for("a few cycles", lambda: any(s["cycles"] > 2 for s in sessions(dbs)))
    dbs.query_analytics("ALTER TABLE analytics_raw.events_t DROP COLUMN payload")
    result = ended(proc, timeout_s=60)
    assert result.code == 2, result.stderr
    assert result.error_lines[0].startswith("error: CopiedToo: "), result.stderr
    assert "payload" in result.error_lines[0]
