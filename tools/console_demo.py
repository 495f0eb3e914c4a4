"""`make console`: the demo's data on a throwaway PostgreSQL, with the web console on it.

Starts an EmbeddedPostgres in .tablesync/console-pg, loads the demo's core data, runs
the sync twice (a full load, then an incremental run) and makes one run fail the way
they do in real life (a destination column too narrow for a new core row), so every
part of the console has something to show. Then serves the console on
http://127.0.0.1:8080 with a fresh random token (printed: sign in with it) until
Ctrl-C, and stops the server by PID. DATABASE_URL_* from the environment are NOT used.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import psycopg

from tools.demo import ANALYTICS_DB, CORE_DB, REPO_ROOT, Server, job_env, prepare_databases, say
from tools.embedded_pg import EmbeddedPostgres
from tools.seed_core import mutate, seed

DATA_DIR = REPO_ROOT / ".tablesync" / "console-pg"
DEMO_DBS = (CORE_DB, ANALYTICS_DB)
STAT_EVENTS = 20_000
IMPORT_JOBS = 200
# The failing run: analytics keeps source_name to 64 characters, and core gets a longer one.
NARROW_COLUMN = "ALTER TABLE analytics_raw.stat_event ALTER COLUMN source_name TYPE varchar(64)"
LONG_ROW = """
INSERT INTO "StatEvent" ("id", "type", "source", "source_id", "source_name")
VALUES ('demo-too-long', 'click', 'api', 'src-1', repeat('a very long source name ', 5))
"""


def sync(env: dict[str, str], *names: str, cwd: Path = REPO_ROOT) -> int:
    """``python run_job.py export-to-pg NAMES`` as a user would run it; its exit code."""
    print(f"$ python run_job.py export-to-pg {' '.join(names)}", flush=True)
    command = [sys.executable, str(REPO_ROOT / "run_job.py"), "export-to-pg", *names]
    return subprocess.run(command, env=env, cwd=cwd, check=False).returncode


def load_demo(
    server: Server, *, cwd: Path = REPO_ROOT, names: tuple[str, str] = DEMO_DBS
) -> dict[str, str]:
    """The demo databases (``names``: core, analytics) with two good runs of each
    definition and one failed one; returns the environment the runs (and the console) use."""
    core_url, analytics_url = prepare_databases(server, *names)
    say(f"seeding core: {STAT_EVENTS} StatEvent, {IMPORT_JOBS} ImportJob rows")
    seed(core_url, stat_events=STAT_EVENTS, import_jobs=IMPORT_JOBS)
    env = job_env(core_url, analytics_url)
    env["TABLESYNC_FAILURES_DIR"] = str(cwd / "failures")
    sync(env, "StatEvent", "ImportJob", cwd=cwd)
    mutate(core_url, update_fraction=0.01, insert_count=500)
    sync(env, "StatEvent", "ImportJob", cwd=cwd)
    say("a run that fails: analytics' source_name is narrowed, core gets a longer one")
    with psycopg.connect(analytics_url, autocommit=True) as conn:
        conn.execute(NARROW_COLUMN)
    with psycopg.connect(core_url, autocommit=True) as conn:
        conn.execute(LONG_ROW)
    sync(env, "StatEvent", cwd=cwd)
    return env


def main() -> int:
    say(f"throwaway PostgreSQL in {DATA_DIR.relative_to(REPO_ROOT)} (DATABASE_URL_* not used)")
    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(DATA_DIR)
    say(f"server: {server.start()}")
    try:
        env = load_demo(server, cwd=REPO_ROOT / ".tablesync")
        env["TABLESYNC_API_TOKEN"] = token = secrets.token_urlsafe(24)
        port = os.environ.get("CONSOLE_PORT", "8080")
        say(f"console: http://127.0.0.1:{port}/  sign in with the token {token}  (Ctrl-C stops)")
        command = [sys.executable, str(REPO_ROOT / "run_job.py"), "serve", "--port", port]
        console = subprocess.Popen(command, env=env, cwd=REPO_ROOT / ".tablesync")
        try:
            return console.wait()
        except KeyboardInterrupt:
            # A terminal's Ctrl-C reached it too; SIGTERM covers the case it did not.
            console.send_signal(signal.SIGTERM)
            return console.wait()
    finally:
        say("stopping the server")
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
