"""Helpers for the fault tests: the CLI with test definitions, tables, exact comparisons.

Every run goes through the real command line (``tests/cli_driver.py``, i.e.
``run_job.py`` with test DEFINITIONS) in a subprocess whose working
directory is the test's tmp dir, so failure files never land in the repo.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dbtools import TestDatabases, cli_env

DRIVER = Path(__file__).resolve().parent / "cli_driver.py"
JOB = "export-to-pg"
RUN_TIMEOUT_S = 120

DEFINITIONS_HEADER = """\
from __future__ import annotations
import os, time
from pathlib import Path
from services import ExportDefinition
"""


@dataclass
class Outcome:
    """What one CLI run did."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


@dataclass
class Cli:
    """The real CLI against one test's databases, in ``workdir``."""

    env: dict[str, str]
    workdir: Path

    @classmethod
    def for_test(cls, dbs: TestDatabases, workdir: Path, definitions: str | None = None) -> Cli:
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
        cli = cls(env=env, workdir=workdir)
        if definitions is not None:
            cli.define(definitions)
        return cli

    def define(self, body: str) -> None:
        """Use ``body`` (Python defining DEFINITIONS) as the job's config."""
        path = self.workdir / "test_definitions.py"
        path.write_text(DEFINITIONS_HEADER + textwrap.dedent(body))
        self.env["TABLESYNC_TEST_DEFINITIONS"] = str(path)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(DRIVER), *args]

    def run(self, *args: str, extra_env: Mapping[str, str] | None = None) -> Outcome:
        """Run ``run_job.py <args>`` to the end."""
        result = subprocess.run(
            self.command(*args),
            cwd=self.workdir,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
        return Outcome(result.returncode, result.stdout, result.stderr)

    def start(
        self, *args: str, extra_env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start ``run_job.py <args>`` without waiting."""
        return subprocess.Popen(
            self.command(*args),
            cwd=self.workdir,
            env={**self.env, **(extra_env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def sync(self, *names: str, extra_env: Mapping[str, str] | None = None) -> Outcome:
        return self.run(JOB, *names, extra_env=extra_env)


def finish(proc: subprocess.Popen[str]) -> Outcome:
    """Wait for a started run and collect its output."""
    out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    return Outcome(proc.returncode, out, err)


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

EVENTS_DEFINITIONS = """
DEFINITIONS = {
    "EventsByTime": ExportDefinition(
        source={"table": "events", "cursor": {"field": "at", "id_field": "id"}},
        destination={"table": "events", "conflict_columns": ["id"]},
        batch_size=int(os.environ.get("TEST_BATCH_SIZE", "1000")),
    ),
    "EventsById": ExportDefinition(
        source={"table": "events", "cursor": {"field": "id"}},
        destination={"table": "events", "conflict_columns": ["id"]},
        batch_size=int(os.environ.get("TEST_BATCH_SIZE", "1000")),
    ),
}
"""


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
