"""The run-time variables: declared once, read once, and the run uses what was read.

``run_definitions(environ=...)`` checks one mapping and must run with that
mapping, never with the process's environment; nothing in the data path reads
the environment; every ``TABLESYNC_*`` name the engine uses is declared in
services/base/run_settings.py (or belongs to the console or the test hooks);
.env.example's values are the defaults.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dbtools import TestDatabases
from synctools import JOB, definition, failing_on, on_both

from services.base.errors import ConfigurationError, JobFailedError, RowError
from services.base.run_settings import (
    BACKFILL_VARIABLE,
    FAILURES_DIR_VARIABLE,
    VARIABLES,
    RunSettings,
)
from services.cli.run import run_definitions

ROOT = Path(__file__).resolve().parent.parent
# Every variable that is checked: a bad value of any of them is exit 2.
CHECKED_BAD = {
    "TABLESYNC_STATEMENT_TIMEOUT_S": "soon",
    "TABLESYNC_LOCK_TIMEOUT_S": "-1",
    "TABLESYNC_TCP_USER_TIMEOUT_S": "x",
    "TABLESYNC_CONNECT_RETRIES": "1.5",
    "TABLESYNC_CONNECT_BACKOFF_S": "x",
    "TABLESYNC_RUN_RETRIES": "many",
    "TABLESYNC_STOP_TIMEOUT_S": "0",
    "TABLESYNC_WRITER_WAIT_S": "-3",
    "TABLESYNC_TRANSFORM_WORKERS": "two",
    "TABLESYNC_BACKFILL_CHUNK_PAGES": "-2",
    "TABLESYNC_BACKFILL_JOIN_WAIT_S": "x",
    "TABLESYNC_MAX_DELETE_FRACTION": "2",
    "TABLESYNC_ORIGIN": "not a label",
}
# Not the run's: the console's own (services/console/settings.py) and the crash tests'.
ELSEWHERE = {
    "TABLESYNC_API_TOKEN",
    "TABLESYNC_MAX_LAG",
    "TABLESYNC_ROOT_PATH",
    "TABLESYNC_TEST_KILL_AT",
    "TABLESYNC_TEST_KILL_WITH",
    "TABLESYNC_TEST_DELAY",
}


def test_every_bad_value_is_one_line_of_one_error() -> None:
    with pytest.raises(ConfigurationError) as refused:
        RunSettings.from_env(CHECKED_BAD)
    named = [next(v for v in CHECKED_BAD if v in line) for line in refused.value.problems]
    assert sorted(named) == sorted(CHECKED_BAD)


def test_an_empty_environment_gives_the_defaults() -> None:
    assert RunSettings.from_env({}) == RunSettings()


def test_env_example_holds_every_variable_at_its_default() -> None:
    example = (ROOT / ".env.example").read_text()
    for variable in VARIABLES:
        assert re.search(rf"^#? ?{variable.name}=", example, re.M), variable.name
    values = dict(re.findall(r"^(TABLESYNC_\w+)=(.*)$", example, re.M))
    run_time = {name: value for name, value in values.items() if name not in ELSEWHERE}
    assert RunSettings.from_env(run_time) == RunSettings()


def test_the_configuration_page_lists_the_run_time_variables_at_their_defaults() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| `(TABLESYNC_\w+)` \| ([^|]+) \|", text, re.M)
    documented = {name: default.strip() for name, default in rows if name not in ELSEWHERE}
    assert set(documented) == {v.name for v in VARIABLES}
    for name, default in documented.items():
        value = re.fullmatch(r"`([^`]+)`", default)
        if value:  # a value (not "cores + 1"): reading it gives the defaults
            assert RunSettings.from_env({name: value[1]}) == RunSettings(), name


def test_every_tablesync_variable_the_engine_names_is_declared_once() -> None:
    declared = {v.name for v in VARIABLES}
    assert len(declared) == len(VARIABLES) == 17
    named: set[str] = set()
    for path in (ROOT / "services").rglob("*.py"):
        named |= set(re.findall(r"\"(TABLESYNC_[A-Z_]+)\"", path.read_text()))
    assert named - ELSEWHERE == declared


def test_nothing_in_the_data_path_reads_the_environment() -> None:
    readers = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "services" / "sync").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"os\.environ|getenv", line)
    ]
    assert readers == []


# Where services/ may read the process's environment: the command line (services/cli:
# the root command's LOG_FORMAT and .env, each command's Invocation), serve's start, and
# the crash tests' hooks. Everything else is handed what those read.
ENVIRONMENT_DOORS = (
    "services/cli/",
    "services/console/serve.py",
    "services/base/settings.py",  # load_dotenv_file: .env into the environment, once
    "services/base/testhooks.py",
)


def test_the_environment_is_read_only_at_the_doors() -> None:
    readers = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "services").rglob("*.py"))
        if re.search(r"os\.environ\b|getenv\(", path.read_text().replace("``os.environ``", ""))
    ]
    assert [path for path in readers if not path.startswith(ENVIRONMENT_DOORS)] == []


def test_run_definitions_runs_with_the_mapping_it_validated(
    dbs: TestDatabases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process's environment holds a bad value of every checked variable, backfills
    on and another failures folder: a run that read any of it would refuse (exit 2),
    backfill, or save its failed row elsewhere."""
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, at timestamptz NOT NULL, v text)")
    on_both(dbs, "CREATE TABLE u (id int PRIMARY KEY, at timestamptz NOT NULL, v text)")
    for table in ("t", "u"):
        dbs.query_core(
            f"INSERT INTO {table} SELECT g, '2026-01-01'::timestamptz + g * interval '1s',"
            " 'v' || g FROM generate_series(1, 30) g"
        )
    for name, value in CHECKED_BAD.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(FAILURES_DIR_VARIABLE, str(tmp_path / "not-here"))
    monkeypatch.delenv(BACKFILL_VARIABLE, raising=False)
    for name in ("DATABASE_URL_CORE", "DATABASE_URL_ANALYTICS"):
        monkeypatch.delenv(name, raising=False)
    environ = {
        "DATABASE_URL_CORE": dbs.core_url,
        "DATABASE_URL_ANALYTICS": dbs.analytics_url,
        FAILURES_DIR_VARIABLE: str(tmp_path / "here"),
        BACKFILL_VARIABLE: "off",
        "TABLESYNC_TRANSFORM_WORKERS": "0",
    }
    definitions = {
        "fails": definition("t", "at", id_field="id", transform=failing_on(7)),
        "loads": definition("u", "at", id_field="id"),  # would be a backfill with it on
    }

    with pytest.raises(JobFailedError) as failed:
        run_definitions(JOB, definitions, ["fails", "loads"], environ=environ, progress_tty=False)

    assert [type(e) for e in failed.value.errors] == [RowError]
    assert [r.definition for r in failed.value.results] == ["fails", "loads"]
    assert failed.value.results[1].counts.read == 30
    assert dbs.query_analytics("SELECT count(*) FROM tablesync.backfills") == [(0,)]
    assert len(list((tmp_path / "here").rglob("*.json"))) == 1
    assert not (tmp_path / "not-here").exists()
