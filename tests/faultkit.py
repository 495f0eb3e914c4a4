"""Helpers for the fault tests: their CLI environment, a small table, exact comparisons.

Every run goes through the real command line (``dbtools.run_cli``) with the
job's DEFINITIONS taken from a module of tests/definitions, in the test's tmp
dir, so failure files never land in the repo.
"""

from __future__ import annotations

from pathlib import Path

from dbtools import TestDatabases, cli_env, wait_for, with_definitions

JOB = "export-to-pg"


def fault_env(dbs: TestDatabases, workdir: Path, definitions: str) -> dict[str, str]:
    """The CLI's environment on the test's databases, with tests/definitions/<definitions>.py
    as the job's config and failure files under ``workdir``."""
    env = cli_env(dbs)
    # Small, fast retries and waits: the tests count attempts, they never wait.
    env.update(
        TABLESYNC_CONNECT_RETRIES="0",
        TABLESYNC_CONNECT_BACKOFF_S="0.01",
        TABLESYNC_WRITER_WAIT_S="0.3",
        TABLESYNC_FAILURES_DIR=str(workdir / "failures"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("TABLESYNC_TEST_KILL_AT", None)
    return with_definitions(env, definitions)


# -- a small table that both cursor kinds can sync ---------------------------

EVENTS_CORE = """
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  payload text NOT NULL
)"""
EVENTS_ANALYTICS = """
CREATE TABLE analytics_raw.events (
  id bigint PRIMARY KEY,
  at timestamptz NOT NULL,
  payload text NOT NULL
)"""


def create_events(dbs: TestDatabases) -> None:
    """``public.events`` in core and ``analytics_raw.events`` in analytics."""
    dbs.query_core(EVENTS_CORE)
    dbs.query_analytics(EVENTS_ANALYTICS)


def insert_events(dbs: TestDatabases, count: int, tag: str = "p") -> None:
    """``count`` new core events, each its own now() in one transaction."""
    dbs.query_core(
        "INSERT INTO events (payload) SELECT %s || g FROM generate_series(1, %s) g", (tag, count)
    )


def insert_one_by_one(dbs: TestDatabases, count: int) -> None:
    """Core events p1..p<count>, one transaction each, so each has its own ``at``."""
    for n in range(1, count + 1):
        dbs.query_core("INSERT INTO events (payload) VALUES (%s)", (f"p{n}",))


CORE_EVENT_SUMS = "SELECT id, md5(ROW(id, at, payload)::text) FROM events ORDER BY id"
ANALYTICS_EVENT_SUMS = (
    "SELECT id, md5(ROW(id, at, payload)::text) FROM analytics_raw.events ORDER BY id"
)


def events_in(dbs: TestDatabases, side: str) -> dict[int, str]:
    """id -> per-row checksum of ``events`` on ``side`` ("core" or "analytics")."""
    if side == "core":
        return {r[0]: r[1] for r in dbs.query_core(CORE_EVENT_SUMS)}
    return {r[0]: r[1] for r in dbs.query_analytics(ANALYTICS_EVENT_SUMS)}


WRITES_LOG = """
CREATE TABLE IF NOT EXISTS written (tbl text, id bigint);
CREATE OR REPLACE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO written VALUES (TG_TABLE_NAME, NEW.id); RETURN NEW; END$$;
"""


def log_writes(dbs: TestDatabases, *tables: str, events: str = "INSERT OR UPDATE") -> None:
    """Log every row written (``events``: inserted or updated) into analytics ``tables``,
    in the writing transaction: a rolled-back batch leaves no line."""
    dbs.query_analytics(WRITES_LOG)
    for table in tables:
        dbs.query_analytics(
            f"CREATE TRIGGER log_write AFTER {events} ON {table}"  # trusted test names
            " FOR EACH ROW EXECUTE FUNCTION log_write()".encode()
        )


def written_twice(dbs: TestDatabases) -> list[tuple[str, int]]:
    """(table, id) of every row that ``log_writes`` saw written more than once."""
    return [
        (r[0], r[1])
        for r in dbs.query_analytics(
            "SELECT tbl, id FROM written GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1, 2"
        )
    ]


def phase_counts(changed: int, batches: int) -> dict[str, int]:
    """How many times a run of the two definitions of tests/definitions/crash.py reaches each
    kill point (services/base/testhooks.py) when ``changed`` rows in ``batches`` batches each
    go through both: rows are read and copied by both, transformed by one."""
    per_batch = 2 * batches
    return {
        "read": 2 * changed,
        "transform": changed,
        "copy": 2 * changed,
        "upsert": per_batch,
        "commit": per_batch,
        "committed": per_batch,
    }


def wait_for_dead_sessions(dbs: TestDatabases) -> None:
    """A killed run's backends are gone, and its advisory locks with them."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'tablesync:%%'"
        " AND datname IN (%s, %s)"
    )
    names = (dbs.core_url.rsplit("/", 1)[1], dbs.analytics_url.rsplit("/", 1)[1])
    wait_for(
        "the killed run's sessions to go away",
        lambda: not dbs.query_analytics(query, names)[0][0],
        timeout_s=30,
        every_s=0.02,
    )


def waiting_on_locks(dbs: TestDatabases) -> int:
    """Sessions of the server waiting on a lock (a run's query behind a test's LOCK)."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    return int(dbs.query_analytics(query)[0][0])
