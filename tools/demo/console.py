"""`make console`: the demo's data on a throwaway PostgreSQL, with the web console on it.

Starts an EmbeddedPostgres in .tablesync/console-pg, loads the demo's core data, runs
the sync twice (a full load, then an incremental run) and makes one run fail the way
they do in real life (a destination column too narrow for a new core row), so every
part of the console has something to show. Then serves the console on
http://127.0.0.1:$CONSOLE_PORT (default 8080) until Ctrl-C, and stops the server by
PID. The token to sign in with is TABLESYNC_API_TOKEN when it is set (never printed),
else a fresh random one, printed. DATABASE_URL_* from the environment are NOT used.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import psycopg

from tools.demo.round_trip import (
    ANALYTICS_DB,
    CORE_DB,
    REPO_ROOT,
    Server,
    job_env,
    prepare_databases,
    say,
)
from tools.testdb.embedded_pg import EmbeddedPostgres
from tools.testdb.seed_core import mutate, seed

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


PORT_VARIABLE = "CONSOLE_PORT"
DEFAULT_PORT = "8080"


def console_port(environ: Mapping[str, str]) -> str:
    """CONSOLE_PORT (default 8080); SystemExit naming it when it is not a TCP port."""
    port = environ.get(PORT_VARIABLE) or DEFAULT_PORT
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise SystemExit(f"error: {PORT_VARIABLE}={port!r} is not a TCP port (1-65535)")
    return port


def console_token(environ: Mapping[str, str]) -> tuple[str, str]:
    """(the token, how to tell the user to sign in): TABLESYNC_API_TOKEN when set, never
    printed; else a fresh random one, printed, since nobody else knows it."""
    token = environ.get("TABLESYNC_API_TOKEN")
    if token:
        return token, "sign in with your TABLESYNC_API_TOKEN"
    token = secrets.token_urlsafe(24)
    return token, f"sign in with the token {token}"


def main() -> int:
    port = console_port(os.environ)  # a bad one before the minutes of loading
    say(f"throwaway PostgreSQL in {DATA_DIR.relative_to(REPO_ROOT)} (DATABASE_URL_* not used)")
    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(DATA_DIR)
    say(f"server: {server.start()}")
    try:
        env = load_demo(server, cwd=REPO_ROOT / ".tablesync")
        env["TABLESYNC_API_TOKEN"], sign_in = console_token(os.environ)
        say(f"console: http://127.0.0.1:{port}/  {sign_in}  (Ctrl-C stops)")
        command = [sys.executable, str(REPO_ROOT / "run_job.py"), "serve", "--port", port]
        console = subprocess.Popen(command, env=env, cwd=REPO_ROOT / ".tablesync")
        try:
            return console.wait()
        except KeyboardInterrupt:
            # A terminal's Ctrl-C reached it too; SIGTERM covers the case it did not. Either
            # is the console's normal end: it exits 0, and so does `make console`.
            console.send_signal(signal.SIGTERM)
            return console.wait()
    finally:
        say("stopping the server")
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
