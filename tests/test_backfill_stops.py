"""A backfill stopped by a signal, or losing a connection, as a cursor run would be.

A signal stops a backfill runner between chunks: the chunk in flight rolls
back, one whose commit is under way finishes, the record says ``cancelled``,
and the rerun does only the chunks not done. A lost connection is ridden out
inside the run: its claims are taken again and its lock again in shared mode.
A chunk is marked done once even when two runners wrote it (a claim lost with
its connection). Same table and definitions as tests/test_backfill.py.
"""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg
import pytest
from dbtools import TestDatabases, finish, run_cli, start_cli, wait_for
from faultkit import EVENTS_ANALYTICS, JOB, create_events, fault_env, log_writes, written_twice
from faultproxy import FaultProxy
from runtools import runs
from test_backfill import CHUNK_ENV, ROWS, assert_exact, chunks_of, fill

from services.base.errors import TransientError
from services.store import chunks
from services.store.chunks import Chunk
from services.store.sql import PageRange


@pytest.fixture
def env(dbs: TestDatabases, tmp_path: Path) -> dict[str, str]:
    create_events(dbs)
    dbs.query_analytics(EVENTS_ANALYTICS.replace("analytics_raw.events", "analytics_raw.events_t"))
    log_writes(dbs, "analytics_raw.events", "analytics_raw.events_t", events="INSERT")
    fill(dbs, ROWS)
    return {**fault_env(dbs, tmp_path, "backfill"), **CHUNK_ENV}


def _sync(env: dict[str, str], cwd: Path, **extra: str) -> tuple[int, str]:
    outcome = run_cli([JOB, "Events"], {**env, **extra}, cwd=cwd, timeout_s=120)
    return outcome.code, outcome.stderr


def _done(dbs: TestDatabases) -> list[int]:
    return [number for number, is_done, _, _ in chunks_of(dbs) if is_done]


def _rerun_is_exact(dbs: TestDatabases, env: dict[str, str], cwd: Path) -> None:
    code, stderr = _sync(env, cwd)
    assert code == 0, stderr
    assert sum(rows for _, _, rows, _ in chunks_of(dbs)) == ROWS  # each chunk read once
    assert_exact(dbs)
    assert written_twice(dbs) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_backfill_stopped_mid_chunk_rolls_the_chunk_back(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path, signum: signal.Signals
) -> None:
    code, stderr = _sync(
        env,
        tmp_path,
        TABLESYNC_TEST_KILL_AT=f"copy:{ROWS // 2}",
        TABLESYNC_TEST_KILL_WITH=signum.name,
    )

    assert code == 128 + signum, stderr
    assert f"stopped by {signum.name}" in stderr and "Traceback" not in stderr
    (record,) = runs(dbs)
    assert record["status"] == "cancelled"
    # A stop reads as a stop: one line, the rows this run committed, no resume promised.
    assert "resuming" not in stderr
    (line,) = [line for line in stderr.splitlines() if "error:" in line]
    assert line == (
        f"error: Events: stopped by {signum.name} after committing {record['rows_read']:,}"
        " row(s) in this run; the chunk in flight was rolled back: the next run goes on"
        " from there"
    )
    done = _done(dbs)
    assert 0 < len(done) < len(chunks_of(dbs))
    # What the record counts is what the done chunks hold: the chunk in flight is not in.
    assert record["rows_read"] == sum(r for _, is_done, r, _ in chunks_of(dbs) if is_done)
    assert dbs.query_analytics("SELECT count(*) FROM tablesync.positions")[0][0] == 0
    _rerun_is_exact(dbs, env, tmp_path)


SLOW_CHUNK_COMMIT = """
CREATE FUNCTION slow_chunk_commit() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN
    IF (SELECT count(*) FROM tablesync.backfill_chunks WHERE done_at IS NOT NULL) = 4 THEN
      PERFORM pg_sleep(1);
    END IF;
    RETURN NULL;
  END$$;
CREATE CONSTRAINT TRIGGER slow_chunk_commit AFTER UPDATE ON tablesync.backfill_chunks
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_chunk_commit();
"""


def test_a_backfill_stopped_while_a_chunk_commits_lets_that_chunk_finish(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    # The 4th chunk is marked done, its transaction not committed yet, when the stop comes;
    # its commit then takes a second, time enough for a stop to cancel it if it would.
    dbs.query_analytics(SLOW_CHUNK_COMMIT)
    code, stderr = _sync(
        env, tmp_path, TABLESYNC_TEST_KILL_AT="chunk_done:4", TABLESYNC_TEST_KILL_WITH="SIGTERM"
    )

    assert code == 143, stderr
    assert len(_done(dbs)) == 4
    (record,) = runs(dbs)
    assert record["status"] == "cancelled"
    assert record["rows_read"] == sum(r for _, is_done, r, _ in chunks_of(dbs) if is_done)
    _rerun_is_exact(dbs, env, tmp_path)


@pytest.mark.parametrize("lost", ["core", "analytics"])
@pytest.mark.parametrize("phase", ["copy", "chunk_done"])
def test_a_backfill_rides_out_a_lost_connection(
    dbs: TestDatabases,
    env: dict[str, str],
    tmp_path: Path,
    proxies: dict[str, FaultProxy],
    lost: str,
    phase: str,
) -> None:
    proxy = proxies[lost]
    proxy.arm("cut")
    code, stderr = _sync(
        env,
        tmp_path,
        DATABASE_URL_CORE=proxies["core"].url(dbs.core_url),
        DATABASE_URL_ANALYTICS=proxies["analytics"].url(dbs.analytics_url),
        TABLESYNC_CONNECT_BACKOFF_S="0.05",
        TABLESYNC_TEST_KILL_AT=f"{phase}:{ROWS // 2 if phase == 'copy' else 4}",
        TABLESYNC_TEST_KILL_WITH=f"fault:{proxy.control_address}",
    )

    assert code == 0, stderr
    assert f"lost the {lost} database connection" in stderr
    (record,) = runs(dbs)
    assert record["status"] == "succeeded" and record["resumes"] >= 1
    assert record["rows_read"] == ROWS  # the run's counts are those its chunks committed
    assert sum(rows for _, _, rows, _ in chunks_of(dbs)) == ROWS
    assert_exact(dbs)
    assert written_twice(dbs) == []


def test_a_chunk_already_done_is_never_marked_done_again(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    code, stderr = _sync(env, tmp_path)
    assert code == 0, stderr
    number, _, rows, run_id = chunks_of(dbs)[0]
    with psycopg.connect(dbs.analytics_url) as conn:
        backfill = chunks.load_backfill(conn, "export-to-pg", "Events")
        assert backfill is not None
        first, end = conn.execute(
            "SELECT first_page, end_page FROM tablesync.backfill_chunks"
            " WHERE definition = 'Events' AND chunk = %s",
            (number,),
        ).fetchone() or (0, 0)
        chunk = Chunk(number=number, pages=PageRange(first=first, end=end))
        # A second runner whose claim on the chunk was lost comes to commit it too.
        with pytest.raises(TransientError, match="done by another runner"):
            chunks.mark_done(conn, backfill, chunk, rows=rows, run_id=(run_id or 0) + 1)
        conn.rollback()
    assert chunks_of(dbs)[0] == (number, True, rows, run_id)


def test_a_runner_losing_analytics_beside_another_takes_its_lock_again_shared(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path, proxies: dict[str, FaultProxy]
) -> None:
    proxy = proxies["analytics"]
    proxy.arm("cut")
    run = start_cli(
        [JOB, "Events"],
        {
            **env,
            "DATABASE_URL_ANALYTICS": proxy.url(dbs.analytics_url),
            "TABLESYNC_CONNECT_BACKOFF_S": "0.05",
            "TABLESYNC_TEST_DELAY": "chunk:0.1",
            "TABLESYNC_TEST_KILL_AT": "chunk_done:4",
            "TABLESYNC_TEST_KILL_WITH": f"fault:{proxy.control_address}",
        },
        cwd=tmp_path,
    )
    with psycopg.connect(dbs.analytics_url, autocommit=True) as other_runner:
        _wait_for_a_done_chunk(dbs)
        # As a second runner sharing the backfill holds it: an exclusive lock is refused now.
        other_runner.execute(SHARED_LOCK)
        outcome = finish(run)
    assert outcome.code == 0, outcome.stderr
    assert "lost the analytics database connection" in outcome.stderr
    assert sum(rows for _, _, rows, _ in chunks_of(dbs)) == ROWS
    assert_exact(dbs)


SHARED_LOCK = "SELECT pg_advisory_lock_shared(hashtextextended('tablesync:export-to-pg:Events', 0))"


def _wait_for_a_done_chunk(dbs: TestDatabases) -> None:
    wait_for("a chunk to be done", lambda: _done(dbs), timeout_s=30, every_s=0.02)
