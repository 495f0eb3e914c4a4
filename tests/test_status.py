"""The status view: ``run_job.py export-to-pg --status`` and the ``--max-lag`` freshness check.

It shows each definition's last run, saved position, rows pending in core and lag; it
reads only (no write, no lock); ``--max-lag`` exits 1 and alerts Slack once when stale.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from dbtools import TestDatabases
from opstools import RunCli
from slack_server import SlackServer, serve_slack
from synctools import JOB, definition, on_both

from jobs.export_to_pg.config import DEFINITIONS
from services.base.db import Databases
from services.base.durations import format_duration, parse_duration
from services.base.settings import DatabaseUrls
from services.reporting import status
from services.reporting.status_format import status_table
from services.store import catalog, preflight
from tools.testdb.seed_core import seed

STAT_EVENTS, IMPORT_JOBS = 300, 30
STATUS = ["export-to-pg", "--status"]


@pytest.fixture
def seeded(dbs: TestDatabases) -> TestDatabases:
    seed(dbs.core_url, stat_events=STAT_EVENTS, import_jobs=IMPORT_JOBS)
    return dbs


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with serve_slack() as server:
        yield server


def status_json(run_cli: RunCli, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    code, out, err = run_cli([*STATUS, "--json", *args], env=env)
    assert code == 0, err
    parsed: list[dict[str, Any]] = orjson.loads(out)
    return parsed


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["definition"]: row for row in rows}


def exportable(dbs: TestDatabases) -> dict[str, int]:
    """Rows a run would read, counted directly in core."""
    stat = dbs.query_core('SELECT count(*) FROM "StatEvent" WHERE "updatedAt" IS NOT NULL')
    jobs = dbs.query_core('SELECT count(*) FROM "ImportJob" WHERE "finishedAt" IS NOT NULL')
    # StatEventSQL reads StatEvent's rows too: its where skips, it does not leave rows pending.
    return {"StatEvent": stat[0][0], "StatEventSQL": stat[0][0], "ImportJob": jobs[0][0]}


# --- before and after a run -------------------------------------------------------------


def test_before_any_run_every_row_is_pending_and_nothing_exported(
    seeded: TestDatabases, env: dict[str, str], run_cli: RunCli
) -> None:
    rows = by_name(status_json(run_cli, env))

    expected = exportable(seeded)
    assert list(rows) == ["StatEvent", "StatEventSQL", "ImportJob"]
    for name, row in rows.items():
        assert row["last_run"] is None
        assert row["position"] is None
        assert row["pending_rows"] == expected[name]
        assert row["pending_counted"] == "exact"
        assert row["lag"] == "never exported"
        assert row["stale"] is None  # no --max-lag, no verdict


def test_after_a_run_nothing_is_pending_and_lag_is_zero(
    seeded: TestDatabases, env: dict[str, str], run_cli: RunCli
) -> None:
    code, _, err = run_cli(["export-to-pg", "--all"], env=env)
    assert code == 0, err

    rows = by_name(status_json(run_cli, env))

    for name, row in rows.items():
        assert row["last_run"]["status"] == "succeeded"
        assert row["last_run"]["rows_read"] == exportable(seeded)[name]
        assert row["pending_rows"] == 0
        assert row["lag_s"] == 0.0 and row["lag"] == "0s"
        assert row["position"]["value"] == row["core_newest"]


def test_lag_is_how_far_the_exported_cursor_trails_core(
    seeded: TestDatabases, env: dict[str, str], run_cli: RunCli
) -> None:
    code, _, err = run_cli(["export-to-pg", "StatEvent"], env=env)
    assert code == 0, err
    # Ten new events, one hour after the newest exported one.
    seeded.query_core(
        """INSERT INTO "StatEvent" ("id", "updatedAt", "type", "source", "source_id")
           SELECT 'late-' || n, (SELECT max("updatedAt") FROM "StatEvent") + interval '1 hour',
                  'click', 'api', 'src-1'
           FROM generate_series(1, 10) AS n"""
    )

    row = by_name(status_json(run_cli, env, "StatEvent"))["StatEvent"]

    assert row["pending_rows"] == 10
    assert row["lag_s"] == 3600.0
    assert row["lag"] == "1h"


def test_the_table_names_every_column_and_says_how_pending_was_counted(
    seeded: TestDatabases, env: dict[str, str], run_cli: RunCli
) -> None:
    code, _, err = run_cli(["export-to-pg", "ImportJob"], env=env)
    assert code == 0, err

    code, out, err = run_cli(STATUS, env=env)

    assert code == 0, err
    header, stat_event, _, import_job = (cells(line) for line in out.splitlines()[:4])
    assert header == [
        "DEFINITION", "STATE", "LAST RUN", "WHEN", "ROWS", "DURATION", "POSITION", "PENDING",
        "COUNTED", "LAG",
    ]  # fmt: skip
    pending = f"{exportable(seeded)['StatEvent']}"
    assert stat_event == ["StatEvent", "never run", "never run", "-", "-", "-", "(start)",
                          pending, "exact", "never exported"]  # fmt: skip
    assert import_job[0:3] == ["ImportJob", "ok", "succeeded"]
    assert import_job[3].endswith(" ago)")
    assert import_job[4] == f"{exportable(seeded)['ImportJob']}"
    assert import_job[5].endswith("s")
    assert import_job[6].startswith("finishedAt=2026-01-01 ") and " id=" in import_job[6]
    assert import_job[7:] == ["0", "exact", "0s"]


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_status_of_named_definitions_only(
    seeded: TestDatabases, env: dict[str, str], run_cli: RunCli
) -> None:
    assert [r["definition"] for r in status_json(run_cli, env, "ImportJob")] == ["ImportJob"]


def test_unknown_definition_is_a_usage_error(env: dict[str, str], run_cli: RunCli) -> None:
    code, _, err = run_cli([*STATUS, "Nope"], env=env)

    assert code == 2
    assert "error: unknown definition 'Nope'" in err


def test_json_shape(seeded: TestDatabases, env: dict[str, str], run_cli: RunCli) -> None:
    assert run_cli(["export-to-pg", "ImportJob"], env=env)[0] == 0

    row = by_name(status_json(run_cli, env, "ImportJob"))["ImportJob"]

    assert set(row) == {
        "job", "definition", "cursor", "state", "failing", "failing_reason", "refusal",
        "last_run", "position", "core_newest", "pending_rows", "pending_counted", "lag_s",
        "lag_value", "lag", "stale", "stale_reason", "problem", "backfill", "follower",
        "schedule",
    }  # fmt: skip
    assert (row["follower"], row["schedule"]) == (None, None)
    assert (row["state"], row["failing"], row["failing_reason"]) == ("ok", False, None)
    assert row["cursor"] == {"field": "finishedAt", "id_field": "id", "kind": "timestamp"}
    assert set(row["last_run"]) == {
        "id", "status", "started_at", "finished_at", "rows_read", "rows_deleted", "duration_s",
        "error",
    }  # fmt: skip
    assert set(row["position"]) == {"value", "id"}


def test_a_large_pending_count_is_an_estimate_and_says_so(
    seeded: TestDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status, "EXACT_COUNT_MAX_ROWS", 10)
    seeded.query_core('ANALYZE "StatEvent"')
    urls = DatabaseUrls(core=seeded.core_url, analytics=seeded.analytics_url)

    with Databases(urls) as dbs:
        report = status.status_report("export-to-pg", {"StatEvent": DEFINITIONS["StatEvent"]}, dbs)

    (row,) = report.definitions
    assert row.pending_counted == "estimate"
    assert row.pending_rows is not None and 200 <= row.pending_rows <= 400  # 300 really
    assert cells(status_table(report).splitlines()[1])[7:9] == [f"~{row.pending_rows}", "estimate"]


# --- the catalogs read once for every definition -------------------------------------


def test_find_tables_reads_each_table_as_find_table_does(dbs: TestDatabases) -> None:
    dbs.query_core("CREATE TYPE mood AS ENUM ('sad', 'ok')")
    dbs.query_core("CREATE DOMAIN cents AS numeric(12, 2) CHECK (VALUE >= 0)")
    dbs.query_core(
        "CREATE TABLE a (id int PRIMARY KEY, code text UNIQUE, m mood, c cents[], at timestamptz)"
    )
    dbs.query_core("CREATE TABLE b (x int, y int, UNIQUE (y, x))")
    dbs.query_core("CREATE TABLE nothing ()")
    dbs.query_core("CREATE VIEW v AS SELECT id, m FROM a")
    names = [("public", "a"), ("public", "gone"), ("public", "b"), ("public", "nothing")]
    names += [("public", "v"), ("public", "a")]
    with dbs.core() as conn:
        together = catalog.find_tables(conn, names)
        one_by_one = {name: catalog.find_table(conn, *name) for name in names}
    assert together == one_by_one
    assert together[("public", "gone")] is None
    assert together[("public", "b")].unique_keys == [frozenset({"x", "y"})]  # type: ignore[union-attr]
    assert list(together[("public", "a")].columns) == ["id", "code", "m", "c", "at"]  # type: ignore[union-attr]


def test_the_status_of_many_definitions_reads_each_catalog_once(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's overview asks this of every definition on every page: one read of each
    catalog for all of them, not one per definition (docs/benchmarks/console.md)."""
    definitions = {}
    for n in range(6):
        on_both(dbs, f"CREATE TABLE t{n} (id int PRIMARY KEY, at timestamptz NOT NULL)")
        definitions[f"t{n}"] = definition(f"t{n}", "at", id_field="id")
    definitions["gone"] = definition("gone", "at", id_field="id")
    reads: list[int] = []
    find_tables = catalog.find_tables

    def counted(conn: Any, names: list[tuple[str, str]]) -> Any:
        reads.append(len(names))
        return find_tables(conn, names)

    monkeypatch.setattr(preflight, "find_tables", counted)
    monkeypatch.setattr(preflight, "find_table", lambda *a: pytest.fail(f"read alone: {a[1:]}"))
    urls = DatabaseUrls(core=dbs.core_url, analytics=dbs.analytics_url)

    with Databases(urls) as pools:
        report = status.status_report(JOB, definitions, pools)

    assert reads == [7, 7]  # every source in core, every destination in analytics: once each
    found = {row.definition: row for row in report.definitions}
    assert found["t0"].refusal is None and found["t0"].problem is None
    assert found["gone"].problem == "core table public.gone does not exist"


# --- it reads only ----------------------------------------------------------------------


def test_status_writes_nothing_and_works_while_a_run_holds_the_lock(
    seeded: TestDatabases, env: dict[str, str], run_cli: RunCli
) -> None:
    assert run_cli(["export-to-pg", "ImportJob"], env=env)[0] == 0
    state = "SELECT (SELECT array_agg(r ORDER BY id) FROM tablesync.runs r)::text,"
    state += " (SELECT array_agg(p ORDER BY definition) FROM tablesync.positions p)::text"
    before = seeded.query_analytics(state)
    holder = seeded.analytics()
    holder.execute(
        "SELECT pg_advisory_lock(hashtextextended('tablesync:' || %s || ':' || %s, 0))",
        ("export-to-pg", "StatEvent"),
    )

    code, out, err = run_cli(STATUS, env=env)

    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == [
        "DEFINITION",
        "StatEvent",
        "StatEventSQL",
        "ImportJob",
    ]
    assert seeded.query_analytics(state) == before


def test_a_missing_core_table_is_a_problem_of_that_definition_only(
    seeded: TestDatabases, env: dict[str, str], run_cli: RunCli
) -> None:
    expected = exportable(seeded)["StatEvent"]
    seeded.query_core('ALTER TABLE "ImportJob" RENAME TO "ImportJobOld"')

    rows = by_name(status_json(run_cli, env))

    assert rows["ImportJob"]["problem"] == "core table public.ImportJob does not exist"
    assert rows["StatEvent"]["problem"] is None
    assert rows["StatEvent"]["pending_rows"] == expected


# --- --max-lag ----------------------------------------------------------------------------


def slack_env(env: dict[str, str], slack: SlackServer) -> dict[str, str]:
    return {**env, "SLACK_WEBHOOK_URL": slack.webhook_url}


def test_max_lag_exits_1_and_alerts_slack_once_when_stale(
    seeded: TestDatabases, env: dict[str, str], run_cli: RunCli, slack: SlackServer
) -> None:
    code, out, err = run_cli([*STATUS, "--max-lag", "15m"], env=slack_env(env, slack))

    assert code == 1
    assert "error: StatEvent: never exported" in err
    assert "error: ImportJob: never exported" in err
    assert "stale: StatEvent: never exported" in out
    assert len(slack.requests) == 1
    payload = slack.requests[0].json()
    assert "3 definition(s) behind by more than 15m" in payload["text"]
    blocks = orjson.dumps(payload["blocks"]).decode()
    assert "StatEvent: never exported" in blocks and "ImportJob: never exported" in blocks


def test_max_lag_names_how_far_behind_a_definition_is(
    seeded: TestDatabases, env: dict[str, str], run_cli: RunCli, slack: SlackServer
) -> None:
    assert run_cli(["export-to-pg", "--all"], env=env)[0] == 0
    seeded.query_core(
        """UPDATE "StatEvent" SET "updatedAt" = "updatedAt" + interval '2 hours'
           WHERE "id" = (SELECT max("id") FROM "StatEvent")"""
    )

    code, out, err = run_cli([*STATUS, "--json", "--max-lag", "1h30m"], env=slack_env(env, slack))

    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {name}: trails core by 2h (max lag 1h30m); 1 row(s) pending"
        for name in ("StatEvent", "StatEventSQL")
    ]
    rows = by_name(orjson.loads(out))
    assert rows["StatEvent"]["stale"] is True and rows["ImportJob"]["stale"] is False
    assert len(slack.requests) == 1
    assert "2 definition(s) behind" in slack.requests[0].json()["text"]


def test_max_lag_exits_0_and_stays_quiet_when_fresh(
    seeded: TestDatabases, env: dict[str, str], run_cli: RunCli, slack: SlackServer
) -> None:
    assert run_cli(["export-to-pg", "--all"], env=env)[0] == 0

    code, out, err = run_cli([*STATUS, "--max-lag", "15m"], env=slack_env(env, slack))

    assert code == 0, err
    assert "stale:" not in out
    assert slack.requests == []


def test_a_slack_outage_does_not_change_the_stale_exit_code(
    seeded: TestDatabases, env: dict[str, str], run_cli: RunCli, slack: SlackServer
) -> None:
    slack.mode = "500"

    code, _, err = run_cli([*STATUS, "--max-lag", "15m"], env=slack_env(env, slack))

    assert code == 1
    assert "Slack notification for the alert" in err and "not sent" in err


def test_max_lag_needs_status_and_a_valid_duration(env: dict[str, str], run_cli: RunCli) -> None:
    code, _, err = run_cli(["export-to-pg", "--all", "--max-lag", "15m"], env=env)
    assert code == 2 and "--max-lag is a check of the status view: add --status" in err

    code, _, err = run_cli([*STATUS, "--max-lag", "15"], env=env)
    assert code == 2 and "'15' is not a duration" in err


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (" 1.5H ", 5400)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "15 minutes", "1w", "h", "-5m"])
def test_parse_duration_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.2, "<1s"), (45, "45s"), (5400, "1h30m"), (3600, "1h"), (277_200, "3d5h")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
