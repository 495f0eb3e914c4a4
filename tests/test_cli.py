"""The command line: help, names, --all, exit codes, error lines, --verbose and .env."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from dbtools import SLACK_VARIABLES, TestDatabases, run_cli, with_definitions

from services.cli.command import OPTIONS, job_command
from tools.testdb.seed_core import seed


def _runs(dbs: TestDatabases) -> list[tuple[str, str]]:
    return dbs.query_analytics("SELECT definition, status FROM tablesync.runs ORDER BY id")


@pytest.fixture
def seeded(dbs: TestDatabases) -> TestDatabases:
    seed(dbs.core_url, stat_events=60, import_jobs=12)
    return dbs


def test_help_lists_the_jobs() -> None:
    code, out, err = run_cli(["--help"])
    assert (code, err) == (0, "")
    assert "export-to-pg" in out


def test_job_help_lists_the_definitions() -> None:
    code, out, _ = run_cli(["export-to-pg", "--help"])
    assert code == 0
    assert "StatEvent    public.StatEvent -> analytics_raw.stat_event" in out
    assert "ImportJob    public.ImportJob -> analytics_raw.import_job" in out


def test_job_help_lists_the_options_of_the_table_in_its_order() -> None:
    code, out, _ = run_cli(["export-to-pg", "--help"])
    assert code == 0
    declared = [
        next(o for o in param.opts if o.startswith("--"))
        for param in job_command("x", "jobs.export_to_pg.config", summary="").params
        if isinstance(param, click.Option)
    ]
    options = out.split("\nOptions:\n", 1)[1]
    listed = re.findall(r"^  (?:-\w, )?(--[\w-]+)", options, re.M)
    assert listed == [*declared, "--help"]
    assert len(declared) == len(OPTIONS) - 1  # the table's first entry is the argument


def test_an_unknown_job_exits_2_listing_the_jobs() -> None:
    code, out, err = run_cli(["nope"])
    assert (code, out) == (2, "")
    assert err == "error: unknown job 'nope'; known jobs: export-to-pg\n"


def test_an_unknown_definition_exits_2_listing_the_definitions(
    env: dict[str, str], dbs: TestDatabases
) -> None:
    code, _, err = run_cli(["export-to-pg", "StatEvent", "Nope"], env=env)
    assert code == 2
    assert err == (
        "error: unknown definition 'Nope' for export-to-pg; known: StatEvent, StatEventSQL,"
        " ImportJob\n"
    )
    assert _runs(dbs) == []


def test_all_runs_every_definition(seeded: TestDatabases, env: dict[str, str]) -> None:
    code, out, err = run_cli(["export-to-pg", "--all"], env=env)
    assert (code, err) == (0, "")
    names = ["StatEvent", "StatEventSQL", "ImportJob"]
    assert [line.split(":")[0] for line in out.splitlines()] == names
    assert _runs(seeded) == [(name, "succeeded") for name in names]


def test_several_names_run_in_the_order_given(seeded: TestDatabases, env: dict[str, str]) -> None:
    code, _, _ = run_cli(["export-to-pg", "ImportJob", "StatEvent"], env=env)
    assert code == 0
    assert _runs(seeded) == [("ImportJob", "succeeded"), ("StatEvent", "succeeded")]


@pytest.fixture
def too_long(seeded: TestDatabases) -> TestDatabases:
    """ImportJob rows whose source no longer fits the destination column."""
    seeded.query_analytics("ALTER TABLE analytics_raw.import_job ALTER source TYPE varchar(3)")
    return seeded


def test_a_failing_row_exits_1_with_one_error_line_and_no_traceback(
    too_long: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    # In cursor order, so that the first failing row is the one in cursor order.
    env = {**env, "TABLESYNC_FAILURES_DIR": str(tmp_path), "TABLESYNC_BACKFILL": "off"}
    first = too_long.query_core(
        """SELECT "finishedAt"::text, id::text FROM "ImportJob" WHERE "finishedAt" IS NOT NULL
           AND length(source) > 3 ORDER BY "finishedAt", id LIMIT 1"""
    )[0]
    code, _, err = run_cli(["export-to-pg", "ImportJob"], env=env)
    assert code == 1
    (line,) = err.splitlines()
    assert line.startswith("error: ImportJob: row at ")
    assert first[0] in line and first[1] in line and "too long" in line
    assert "Traceback" not in err
    assert _runs(too_long) == [("ImportJob", "failed")]


def test_verbose_shows_the_traceback(
    too_long: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    env = {**env, "TABLESYNC_FAILURES_DIR": str(tmp_path)}
    code, _, err = run_cli(["--verbose", "export-to-pg", "ImportJob"], env=env)
    assert code == 1
    assert "Traceback" in err
    assert err.splitlines()[-1].startswith("error: ImportJob: row at ")


def test_a_missing_destination_table_exits_2_and_writes_only_its_refused_run(
    seeded: TestDatabases, env: dict[str, str]
) -> None:
    seeded.query_analytics("DROP TABLE analytics_raw.stat_event")
    code, _, err = run_cli(["export-to-pg", "StatEvent"], env=env)
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith(
        "error: StatEvent: analytics table analytics_raw.stat_event does not exist"
    )
    assert _runs(seeded) == [("StatEvent", "failed")]  # refused, and recorded (rule 18)
    assert seeded.query_analytics("SELECT count(*) FROM tablesync.positions") == [(0,)]


def test_an_invalid_definition_exits_2_with_one_line(
    env: dict[str, str], tmp_path: Path, dbs: TestDatabases
) -> None:
    env = with_definitions(env, "no_conflict_columns")
    code, _, err = run_cli(["export-to-pg", "Bad"], env, cwd=tmp_path)
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith("error: ") and "destination.conflict_columns" in line
    assert _runs(dbs) == []


def _bare_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    env.update(dict.fromkeys(SLACK_VARIABLES, ""))
    return env


def test_a_missing_variable_exits_2(tmp_path: Path) -> None:
    code, _, err = run_cli(["export-to-pg", "StatEvent"], _bare_env(), cwd=tmp_path)
    assert code == 2
    assert "error: DATABASE_URL_CORE is not set" in err


def test_dotenv_in_the_working_directory_is_read(dbs: TestDatabases, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"DATABASE_URL_CORE={dbs.core_url}\nDATABASE_URL_ANALYTICS={dbs.analytics_url}\n"
    )
    code, _, err = run_cli(["export-to-pg", "ImportJob"], _bare_env(), cwd=tmp_path)
    assert (code, err) == (0, "")
    assert _runs(dbs) == [("ImportJob", "succeeded")]


def test_the_real_environment_wins_over_dotenv(dbs: TestDatabases, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "DATABASE_URL_CORE=postgresql://nobody@127.0.0.1:1/nothing\n"
        f"DATABASE_URL_ANALYTICS={dbs.analytics_url}\n"
    )
    env = {**_bare_env(), "DATABASE_URL_CORE": dbs.core_url}
    code, _, err = run_cli(["export-to-pg", "ImportJob"], env, cwd=tmp_path)
    assert (code, err) == (0, "")
