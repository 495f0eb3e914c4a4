"""A connection that hangs rather than drops becomes a lost one, which the run resumes from.

Every connection carries TCP keepalives, ``tcp_user_timeout`` and the server-side
statement and lock timeouts (TABLESYNC_*_TIMEOUT_S); a connection that acknowledges
but never answers is closed by the stall watchdog after twice the statement timeout.
The stalled server is a lock the test holds on the destination; the stalled network
is the fault proxy (tests/faultproxy.py) forwarding nothing from some instant on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbtools import TestDatabases, run_cli
from faultkit import JOB, create_events, events_in, fault_env, insert_events
from faultproxy import FaultProxy

from services.base.db import Databases
from services.base.errors import ConfigurationError
from services.base.settings import DatabaseUrls
from services.base.timeouts import Timeouts

# The kill points count cursor batches of a first load.
pytestmark = pytest.mark.usefixtures("cursor_order_first_loads")


def test_a_core_connection_goes_back_to_the_pool_read_only(dbs: TestDatabases) -> None:
    urls = DatabaseUrls(core=dbs.core_url, analytics=dbs.analytics_url)
    with Databases(urls, max_size=1) as pools:
        with pools.core.connection() as conn:  # what a select expression can do
            assert conn.info.parameter_status("default_transaction_read_only") == "on"
            conn.execute("SELECT set_config('default_transaction_read_only', 'off', false)")
            conn.commit()  # the server reports the change, which the reset reads
            assert conn.info.parameter_status("default_transaction_read_only") == "off"
        with pools.core.connection() as conn:  # the same one: the pool holds one
            assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("CREATE TEMP TABLE t (x int)")


def test_every_connection_carries_the_bounds(dbs: TestDatabases) -> None:
    urls = DatabaseUrls(core=dbs.core_url, analytics=dbs.analytics_url)
    timeouts = Timeouts.from_env(
        {
            "TABLESYNC_STATEMENT_TIMEOUT_S": "7",
            "TABLESYNC_LOCK_TIMEOUT_S": "3",
            "TABLESYNC_TCP_USER_TIMEOUT_S": "9",
        }
    )
    with Databases(urls, timeouts=timeouts) as pools:
        for pool in (pools.core, pools.analytics):
            with pool.connection() as conn:
                statement = conn.execute("SHOW statement_timeout").fetchone()
                lock = conn.execute("SHOW lock_timeout").fetchone()
                assert (statement, lock) == (("7s",), ("3s",))
                options = {o.keyword: o.val for o in conn.pgconn.info}
                assert options[b"tcp_user_timeout"] == b"9000"
                assert options[b"keepalives"] == b"1"
    assert timeouts.stall_s == 7 + 5  # twice the statement timeout, at most 5 s more
    with pytest.raises(ConfigurationError, match="TABLESYNC_LOCK_TIMEOUT_S"):
        Timeouts.from_env({"TABLESYNC_LOCK_TIMEOUT_S": "soon"})


@pytest.fixture
def env(dbs: TestDatabases, tmp_path: Path) -> dict[str, str]:
    create_events(dbs)
    insert_events(dbs, 30)
    env = fault_env(dbs, tmp_path, "events")
    env.update(TEST_BATCH_SIZE="10", TABLESYNC_CONNECT_BACKOFF_S="0.3")
    return env


def _resumes(dbs: TestDatabases) -> list[tuple[str, int]]:
    return dbs.query_analytics("SELECT status, resumes FROM tablesync.runs ORDER BY id")


def _release_after_a_wait(
    dbs: TestDatabases, locker: psycopg.Connection[Any], done: threading.Event
) -> None:
    """Close ``locker`` 0.5 s (past the run's 0.2 s lock timeout) after a session waits on it."""
    try:
        while not done.is_set() and not _sessions_waiting_on_a_lock(dbs):
            time.sleep(0.05)
        done.wait(0.5)
    finally:
        locker.close()


def _sessions_waiting_on_a_lock(dbs: TestDatabases) -> int:
    rows = dbs.query_analytics(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return int(rows[0][0])


@pytest.mark.parametrize("retries", ["0", "3"])
def test_a_lock_held_on_the_destination_times_out_and_is_waited_out(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path, retries: str
) -> None:
    locker = psycopg.connect(dbs.analytics_url)
    locker.execute("LOCK analytics_raw.events IN ACCESS EXCLUSIVE MODE")
    # The lock is let go once the run has waited on it past its lock timeout: a
    # timer started before the run let a slow start (a loaded machine) miss it.
    done = threading.Event()
    release = threading.Thread(target=_release_after_a_wait, args=(dbs, locker, done))
    release.start()
    extra = {"TABLESYNC_LOCK_TIMEOUT_S": "0.2", "TABLESYNC_RUN_RETRIES": retries}
    try:
        outcome = run_cli([JOB, "EventsByTime"], {**env, **extra}, cwd=tmp_path)
    finally:
        done.set()
        release.join()
    assert "Traceback" not in outcome.stderr
    if retries == "0":
        assert outcome.code == 1, outcome.stderr
        assert "lock timeout" in outcome.error_lines[0], outcome.stderr
        return
    assert outcome.code == 0, outcome.stderr
    assert "LockNotAvailable on " not in outcome.stderr  # no connection was lost
    assert "canceling statement due to lock timeout; resuming" in outcome.stderr
    ((status, resumes),) = _resumes(dbs)
    assert status == "succeeded" and resumes >= 1
    assert events_in(dbs, "analytics") == events_in(dbs, "core")


@pytest.fixture
def proxy(dbs: TestDatabases) -> Iterator[FaultProxy]:
    with FaultProxy.serving(dbs.analytics_url) as started:
        yield started


def test_a_stalled_connection_is_lost_and_the_run_resumes(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path, proxy: FaultProxy
) -> None:
    proxy.arm("stall")
    env.update(
        DATABASE_URL_ANALYTICS=proxy.url(dbs.analytics_url),
        TABLESYNC_STATEMENT_TIMEOUT_S="1",  # a silent statement is lost after 2 s
        TABLESYNC_TEST_KILL_AT="upsert:2",  # batch 2 is written, not committed
        TABLESYNC_TEST_KILL_WITH=f"fault:{proxy.control_address}",
    )
    started = time.monotonic()
    outcome = run_cli([JOB, "EventsByTime"], env, cwd=tmp_path, timeout_s=60)
    assert outcome.code == 0, outcome.stderr
    assert time.monotonic() - started < 30
    assert "analytics database connection has been silent for" in outcome.stderr
    # The server still had the lost session, holding the lock: the run ended it.
    assert "ended this run's own lost analytics session" in outcome.stderr
    assert _resumes(dbs) == [("succeeded", 1)]
    assert events_in(dbs, "analytics") == events_in(dbs, "core")
