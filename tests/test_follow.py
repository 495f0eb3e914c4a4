"""Rule 20: ``--follow`` keeps definitions in step from one process until stopped.

Every follower is the real command line on the test databases
(tests/definitions/follow.py), writers are real transactions on core, and the checks
compare core and analytics row by row.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbtools import CliResult, TestDatabases, finish, run_cli, start_cli, wait_for
from faultkit import (
    JOB,
    create_events,
    events_in,
    fault_env,
    insert_events,
)
from runtools import runs

EVERY = "0.2s"
STOP_TIMEOUT_S = 5.0


@pytest.fixture
def follow_env(dbs: TestDatabases, tmp_path: Path) -> dict[str, str]:
    create_events(dbs)
    env = fault_env(dbs, tmp_path, "follow")
    env["TABLESYNC_STOP_TIMEOUT_S"] = str(STOP_TIMEOUT_S)
    return env


def follow(env: dict[str, str], cwd: Path, *names: str) -> Any:
    return start_cli([JOB, "--follow", "--every", EVERY, *names], env, cwd=cwd)


def stop(proc: Any, signum: int = signal.SIGTERM) -> tuple[CliResult, float]:
    """Signal the follower; its result and how long it took to end."""
    started = time.monotonic()
    proc.send_signal(signum)
    result = finish(proc, timeout_s=STOP_TIMEOUT_S + 10)
    return result, time.monotonic() - started


def sessions(dbs: TestDatabases) -> list[dict[str, Any]]:
    with dbs.analytics().cursor() as cur:
        cur.execute("SELECT * FROM tablesync.follower_sessions ORDER BY id")
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


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
        with psycopg.connect(self.url, autocommit=True) as conn:
            i = 0
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
    assert session["cycles"] > 5
    assert session["rows_read"] == records[1]["rows_read"] > 0


def test_a_cron_run_of_a_followed_definition_exits_75(
    dbs: TestDatabases, follow_env: dict[str, str], tmp_path: Path
) -> None:
    insert_events(dbs, 20)
    proc = follow(follow_env, tmp_path, "Copied")
    try:
        wait_for("the follower's session", lambda: any(s["cycles"] > 2 for s in sessions(dbs)))
        insert_events(dbs, 5)
        cron = run_cli([JOB, "Copied"], follow_env, cwd=tmp_path)
        assert cron.code == 75, cron.stderr
    finally:
        result, _ = stop(proc)
    assert result.code == 0, result.stderr
    assert in_step(dbs)
