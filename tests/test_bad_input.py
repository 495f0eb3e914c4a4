"""The catalogue of bad input: each case, its documented exit code, exactly one
``error:`` line that says what is wrong, and nothing written past the last good
batch. Row failures also leave failures/<definition>/<timestamp>.json with the
row and the error, its path in the error line.

Runs go through the real CLI (dbtools.run_cli with tests/definitions/catalogue.py
as the job's config) in the test's tmp dir, with TABLESYNC_FAILURES_DIR there too.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from authkit import Role, password_auth, role  # noqa: F401, F811 - fixtures
from dbtools import CliResult, TestDatabases, run_cli, with_definitions
from faultkit import (
    EVENTS_ANALYTICS,
    JOB,
    create_events,
    events_in,
    fault_env,
    insert_one_by_one,
)
from faultproxy import FaultProxy

ROWS, BATCH = 14, 5  # batches p1-p5, p6-p10, p11-p14: the bad row p12 is in batch 3
# First loads here read in cursor order, batch by batch: this module tests batches.
pytestmark = pytest.mark.usefixtures("cursor_order_first_loads")

GOOD_ROWS = 10


@pytest.fixture
def env(dbs: TestDatabases, tmp_path: Path) -> dict[str, str]:
    create_events(dbs)
    dbs.query_analytics(
        EVENTS_ANALYTICS.replace("analytics_raw.events", "analytics_raw.events_short").replace(
            "payload text", "payload varchar(4)"
        )
    )
    insert_one_by_one(dbs, ROWS)
    return fault_env(dbs, tmp_path, "catalogue")


def _one_error(outcome: CliResult, code: int, *fragments: str) -> str:
    assert outcome.code == code, outcome.stderr
    assert len(outcome.error_lines) == 1, outcome.stderr
    line = outcome.error_lines[0]
    for fragment in fragments:
        assert fragment in line, line
    assert "Traceback" not in outcome.stderr
    return line


def _nothing_written(dbs: TestDatabases) -> None:
    assert events_in(dbs, "analytics") == {}
    assert dbs.query_analytics("SELECT count(*) FROM tablesync.positions") == [(0,)]


# -- configuration errors: exit 2, found before anything is written ----------


def test_unknown_job(env: dict[str, str], dbs: TestDatabases, tmp_path: Path) -> None:
    _one_error(
        run_cli(["no-such-job"], env, cwd=tmp_path),
        2,
        "error: unknown job 'no-such-job'",
        "export-to-pg",
    )
    _nothing_written(dbs)


def test_unknown_definition(env: dict[str, str], dbs: TestDatabases, tmp_path: Path) -> None:
    line = _one_error(
        run_cli([JOB, "NoSuchDefinition"], env, cwd=tmp_path),
        2,
        "unknown definition 'NoSuchDefinition'",
    )
    assert "known: Good, " in line
    _nothing_written(dbs)


def test_invalid_definition_is_one_readable_line(
    env: dict[str, str], dbs: TestDatabases, tmp_path: Path
) -> None:
    env = with_definitions(env, "invalid_batch_size")
    _one_error(run_cli([JOB, "Broken"], env, cwd=tmp_path), 2, "batch_size", "greater than 0")
    _nothing_written(dbs)


def test_missing_variable(env: dict[str, str], dbs: TestDatabases, tmp_path: Path) -> None:
    del env["DATABASE_URL_CORE"]
    line = _one_error(run_cli([JOB, "Good"], env, cwd=tmp_path), 2, "DATABASE_URL_CORE is not set")
    assert ".env" in line
    _nothing_written(dbs)


def test_unreachable_server(env: dict[str, str], dbs: TestDatabases, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env["DATABASE_URL_CORE"] = f"postgresql://tablesync@127.0.0.1:{port}/core"
    _one_error(
        run_cli([JOB, "Good"], env, cwd=tmp_path),
        1,
        "error: cannot connect to the core database",
        "refused",
    )
    _nothing_written(dbs)


URL_SECRET = "Url-S3cret-in-a-bad-string"


@pytest.mark.parametrize(
    "url",
    [
        f"tablesync:{URL_SECRET}@127.0.0.1:{{port}}/core",  # no scheme
        f"host=127.0.0.1 port={{port}} password={URL_SECRET} bogus=1",  # unknown keyword
        f"postgresql://tablesync:{URL_SECRET}@127.0.0.1:{{port}}/core?sslmode=bogus",
        f"postgresql://tablesync:{URL_SECRET}@127.0.0.1:abc/core",  # a port that is no number
        f"host=127.0.0.1 port={{port}} password='{URL_SECRET}",  # unterminated quote
        f"postgresql://tablesync:{URL_SECRET}%zz@127.0.0.1:{{port}}/core",  # bad percent-escape
    ],
    ids=["no-scheme", "unknown-keyword", "bad-sslmode", "port-not-a-number", "quote", "percent"],
)
def test_a_malformed_connection_string_is_a_configuration_error_without_its_secret(
    env: dict[str, str], dbs: TestDatabases, tmp_path: Path, url: str
) -> None:
    port = urlsplit(dbs.core_url).port
    env.update(DATABASE_URL_CORE=url.format(port=port), TABLESYNC_CONNECT_RETRIES="3")
    outcome = run_cli([JOB, "Good"], env, cwd=tmp_path)
    # Refused when parsed (naming the variable) or when connecting (naming the database).
    line = _one_error(outcome, 2)
    assert "DATABASE_URL_CORE is not a connection string" in line or (
        "cannot connect to the core database: connection is bad: invalid" in line
    )
    assert "retrying" not in outcome.stderr
    verbose = run_cli(["--verbose", JOB, "Good"], env, cwd=tmp_path)
    assert verbose.code == 2
    for secret in (URL_SECRET, URL_SECRET.lower()):
        assert secret not in outcome.stdout + outcome.stderr + verbose.stdout + verbose.stderr
    _nothing_written(dbs)


def test_wrong_password(
    env: dict[str, str],
    dbs: TestDatabases,
    tmp_path: Path,
    role: Role,  # noqa: F811
) -> None:
    env["DATABASE_URL_CORE"] = role.url(dbs.core_url, password="not-the-password")
    line = _one_error(
        run_cli([JOB, "Good"], env, cwd=tmp_path),
        2,
        "cannot connect to the core database",
        "password authentication",
    )
    assert "not-the-password" not in run_cli([JOB, "Good"], env, cwd=tmp_path).stderr
    assert role.password not in line
    _nothing_written(dbs)


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        ("NoSourceTable", "core table public.no_such_table does not exist"),
        ("NoCursorColumn", "core table public.events has no column 'no_such_column'"),
        ("NoDestinationTable", "analytics table analytics_raw.no_such_table does not exist"),
        ("UnknownOutputColumn", "transform output names column 'bogus'"),
        ("NoUniqueIndex", "has no unique index on (payload)"),
    ],
)
def test_definition_that_does_not_match_the_databases(
    env: dict[str, str], dbs: TestDatabases, tmp_path: Path, definition: str, fragment: str
) -> None:
    _one_error(run_cli([JOB, definition], env, cwd=tmp_path), 2, f"error: {definition}: ", fragment)
    _nothing_written(dbs)


def test_migrations_not_applied(
    env: dict[str, str], dbs: TestDatabases, tmp_path: Path, empty_database: str
) -> None:
    env["DATABASE_URL_ANALYTICS"] = empty_database
    # The destination exists; only the runner's own tables are missing.
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA analytics_raw")
        conn.execute(EVENTS_ANALYTICS)
    _one_error(run_cli([JOB, "Good"], env, cwd=tmp_path), 2, "analytics is not migrated", "dbmate")
    _nothing_written(dbs)


@pytest.mark.parametrize("database", ["core", "analytics"])
def test_a_lost_connection_past_the_retries_names_its_database(
    env: dict[str, str], dbs: TestDatabases, tmp_path: Path, database: str
) -> None:
    url = dbs.core_url if database == "core" else dbs.analytics_url
    with FaultProxy.serving(url) as proxy:
        proxy.arm("reset")
        env.update(
            {f"DATABASE_URL_{database.upper()}": proxy.url(url)},
            TABLESYNC_RUN_RETRIES="0",
            # Batch 2 being read from core / written, not committed, to analytics.
            TABLESYNC_TEST_KILL_AT="read:7" if database == "core" else "upsert:2",
            TABLESYNC_TEST_KILL_WITH=f"fault:{proxy.control_address}",
        )
        outcome = run_cli([JOB, "Good"], env, cwd=tmp_path)
    _one_error(outcome, 1, f"error: Good: lost the {database} database connection: ")
    kept = sorted(events_in(dbs, "analytics"))  # whole batches, as committed
    assert kept == list(range(1, len(kept) + 1)) and len(kept) % BATCH == 0 and kept


# -- row errors: exit 1 at batch 3, batches 1 and 2 stay, the row is saved -----


@pytest.fixture
def twelfth(dbs: TestDatabases) -> Iterator[dict[str, Any]]:
    """Core's row p12 (id 12) as the error line and failure file should name it."""
    at = dbs.query_core("SELECT at::text FROM events WHERE id = 12")[0][0]
    yield {"id": "12", "at": at}


@pytest.mark.parametrize(
    ("definition", "cause"),
    [
        ("TooLong", "value too long for type character varying(4)"),
        ("TransformRaises", "ValueError: cannot handle p12"),
        ("NullKey", "NULL in conflict column(s) id"),
        ("NotADict", "transform returned list, not a dict or None"),
    ],
)
def test_a_bad_row_stops_at_its_batch_and_is_saved(
    env: dict[str, str],
    dbs: TestDatabases,
    tmp_path: Path,
    twelfth: dict[str, Any],
    definition: str,
    cause: str,
) -> None:
    payload = "p12"
    if definition == "TooLong":  # p1..p14 fit in varchar(4); this one does not
        payload = "p12-too-long"
        dbs.query_core("UPDATE events SET payload = %s WHERE id = 12", (payload,))
    outcome = run_cli([JOB, definition], env, cwd=tmp_path)
    line = _one_error(outcome, 1, f"error: {definition}: row at at={twelfth['at']}, id=12: ", cause)
    destination = "events_short" if definition == "TooLong" else "events"
    kept = dbs.query_analytics(f"SELECT id FROM analytics_raw.{destination} ORDER BY id")
    assert [r[0] for r in kept] == list(range(1, GOOD_ROWS + 1))
    position = dbs.query_analytics("SELECT cursor_id FROM tablesync.positions")
    assert position == [(str(GOOD_ROWS),)]
    saved = _failure_file(tmp_path, definition)
    assert f"(row saved to {saved})" in line
    # The summary counts the row at fault and names its file once.
    assert ", errors 1 · " in outcome.stdout
    assert outcome.stdout.count(str(saved)) == 1
    record = json.loads(saved.read_text())
    assert cause in record["error"]
    assert str(record["key"]["id"]) == "12"
    assert record["row"]["payload"] == payload
    status = dbs.query_analytics("SELECT status, error_text FROM tablesync.runs")
    assert status == [("failed", line.removeprefix("error: "))]


def _failure_file(workdir: Path, definition: str) -> Path:
    files = list((workdir / "failures" / definition).glob("*.json"))
    assert len(files) == 1, files
    return files[0]


# -- verify: a row the destination cannot take is a difference, not a crash -----


@pytest.mark.parametrize("definition", ["TooLong", "TooLongTransformed"])
def test_verify_names_a_row_it_cannot_stage_and_checks_the_rest(
    env: dict[str, str],
    dbs: TestDatabases,
    tmp_path: Path,
    twelfth: dict[str, Any],
    definition: str,
) -> None:
    assert run_cli([JOB, definition], env, cwd=tmp_path).code == 0
    dbs.query_core("UPDATE events SET payload = 'p12-too-long' WHERE id = 12")
    dbs.query_analytics("UPDATE analytics_raw.events_short SET payload = 'hand' WHERE id = 3")
    outcome = run_cli([JOB, "--verify", definition], env, cwd=tmp_path)
    if definition == "TooLong":
        # Core's keys and text forms come apart from staging: row 12 is seen, and differs.
        _one_error(outcome, 1, "analytics differs from core (2 differing, 1 unwritable)")
        assert "differing: 2 (e.g. id=3; id=12)" in outcome.stdout
    else:
        # Through the transform, row 12's key was never seen: its old row looks extra too.
        _one_error(outcome, 1, "analytics differs from core (1 extra, 1 differing, 1 unwritable)")
        assert "differing: 1 (e.g. id=3)" in outcome.stdout
    assert f"unwritable: 1 (e.g. at={twelfth['at']}, id=12: " in outcome.stdout
    assert "value too long for type character varying(4)" in outcome.stdout
    # Repair fixes what it can and keeps row 12, whose key it could not see, in place.
    repaired = run_cli([JOB, "--verify", "--repair", definition], env, cwd=tmp_path)
    assert repaired.code == 1, repaired.stderr
    kept = dbs.query_analytics("SELECT id, payload FROM analytics_raw.events_short ORDER BY id")
    assert kept == [(n, f"p{n}") for n in range(1, ROWS + 1)]


def test_a_failure_file_holds_every_date_and_time_type(tmp_path: Path) -> None:
    # A failing row with a timetz column (tests/scaffold_schemas/every_type.sql), which
    # orjson refused outright: the run ended in a traceback instead of its error line.
    import datetime as dt
    import json

    from services.sync.run.failures import write_failure_file

    row = {
        "alarm": dt.time(23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        "at": dt.datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC),
        "born": dt.date(1, 1, 1),
        "wait": dt.timedelta(days=-3, seconds=5),
    }
    path = write_failure_file("t", error="bad", row=row, key={"id": 1}, base=tmp_path)
    assert json.loads(path.read_text())["row"] == {
        "alarm": "23:59:59.999999+05:30",
        "at": "2026-01-01T00:00:00.000001+00:00",
        "born": "0001-01-01",
        "wait": "-3 days, 0:00:05",
    }
