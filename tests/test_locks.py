"""README guarantee 10: one run per definition at a time (advisory lock in analytics);
others in parallel."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dbtools import TestDatabases
from faultkit import EVENTS_ANALYTICS, Cli, create_events, events_in, finish, insert_events

WAIT_FOR_FILE_S = 60.0

BLOCKING_DEFINITIONS = """
WORKDIR = Path(__file__).parent


def wait_for_release(row):
    # The first row tells the test the run holds its lock, then waits for the test.
    (WORKDIR / "started").touch()
    deadline = time.monotonic() + 60
    while not (WORKDIR / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released the run")
        time.sleep(0.02)
    return dict(row)


DEFINITIONS = {
    "Events": ExportDefinition(
        source={"table": "events", "cursor": {"field": "at", "id_field": "id"}},
        destination={"table": "events", "conflict_columns": ["id"]},
        transform=wait_for_release,
    ),
}
"""

BARRIER_DEFINITIONS = """
import threading

# Only two runs in flight together can pass: run one after the other, the
# first waits alone until its timeout and fails.
BARRIER = threading.Barrier(2)
PASSED = set()


def through_barrier(name):
    def transform(row):
        if name not in PASSED:
            BARRIER.wait(timeout=float(os.environ.get("TEST_BARRIER_TIMEOUT_S", "30")))
            PASSED.add(name)
        return dict(row)
    return transform


DEFINITIONS = {
    name: ExportDefinition(
        source={"table": "events", "cursor": {"field": "at", "id_field": "id"}},
        destination={"table": table, "conflict_columns": ["id"]},
        transform=through_barrier(name),
    )
    for name, table in (("Left", "events"), ("Right", "events_right"))
}
"""


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT_FOR_FILE_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


@pytest.fixture
def cli(dbs: TestDatabases, tmp_path: Path) -> Cli:
    create_events(dbs)
    insert_events(dbs, 50)
    return Cli.for_test(dbs, tmp_path)


def test_three_runs_at_once_one_works_two_exit_75(
    dbs: TestDatabases, cli: Cli, tmp_path: Path
) -> None:
    cli.define(BLOCKING_DEFINITIONS)
    holder = cli.start("export-to-pg", "Events")
    try:
        _wait_for(tmp_path / "started")
        losers = [cli.start("export-to-pg", "Events") for _ in range(2)]
        lost = [finish(p) for p in losers]
    finally:
        (tmp_path / "release").touch()
        won = finish(holder)
    assert won.code == 0, won.stderr
    for outcome in lost:
        assert outcome.code == 75
        assert outcome.error_lines == [
            "error: Events: another run of export-to-pg Events holds its lock (taken in"
            " analytics); nothing was done: let that run finish, then run again"
        ]
        assert "Traceback" not in outcome.stderr
    assert events_in(dbs, "analytics") == events_in(dbs, "core")
    # The losers wrote nothing, not even a run record.
    assert dbs.query_analytics("SELECT status FROM tablesync.runs") == [("succeeded",)]


def test_the_lock_is_free_again_after_a_run(dbs: TestDatabases, cli: Cli, tmp_path: Path) -> None:
    cli.define(BLOCKING_DEFINITIONS)
    (tmp_path / "release").touch()
    assert cli.sync("Events").code == 0
    insert_events(dbs, 5)
    assert cli.sync("Events").code == 0
    assert events_in(dbs, "analytics") == events_in(dbs, "core")


def test_all_jobs_2_runs_two_definitions_at_once(dbs: TestDatabases, cli: Cli) -> None:
    dbs.query_analytics(
        EVENTS_ANALYTICS.replace("analytics_raw.events", "analytics_raw.events_right")
    )
    cli.define(BARRIER_DEFINITIONS)
    result = cli.run("export-to-pg", "--all", "--jobs", "2")
    assert result.code == 0, result.stderr
    assert sorted(line.split(":")[0] for line in result.stdout.splitlines()) == ["Left", "Right"]
    core = events_in(dbs, "core")
    assert events_in(dbs, "analytics") == core
    right = dbs.query_analytics("SELECT count(*) FROM analytics_raw.events_right")
    assert right == [(len(core),)]


def test_jobs_must_be_a_positive_number(cli: Cli) -> None:
    result = cli.run("export-to-pg", "--all", "--jobs", "0")
    assert result.code == 2
    assert len(result.error_lines) == 1
    assert "--jobs" in result.error_lines[0]
