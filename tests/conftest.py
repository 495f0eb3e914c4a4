"""Fixtures: one real PostgreSQL per session, fresh databases per test.

The server is TEST_DATABASE_URL when set (the session creates and drops only
its own ``ts_*`` databases there), else a throwaway EmbeddedPostgres started
for the session. Tests never skip for want of a server: if none can be
started, every test that needs one errors loudly.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dbtools import (
    CliResult,
    PgServer,
    TestDatabases,
    cli_env,
    run_cli,
    run_dbmate,
    unique_db_name,
)
from faultproxy import FaultProxy
from runtools import login_role_with_password

from tools.testdb.core_schema import apply_core_schema
from tools.testdb.embedded_pg import EmbeddedPostgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's server; an embedded one is stopped by PID at session end."""
    external_url = os.environ.get("TEST_DATABASE_URL")
    if external_url:
        yield PgServer(base_url=external_url)
        return
    # Not under pytest's basetemp: pytest resets its permissions to 0700 at the
    # start of every session, which would lock the server's OS user out.
    workdir = Path(tempfile.mkdtemp(prefix="tablesync-test-pg-"))
    server = EmbeddedPostgres(workdir / "data")
    try:
        yield PgServer(base_url=server.start(), embedded=server)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def _templates(pg_server: PgServer) -> Iterator[tuple[str, str]]:
    """(core template, analytics template): schema applied / migrated once per session."""
    core_tmpl, analytics_tmpl = unique_db_name("core_tmpl"), unique_db_name("analytics_tmpl")
    try:
        apply_core_schema(pg_server.create_database(core_tmpl))
        # The real dbmate binary, as in production; it creates the database too.
        run_dbmate(pg_server.url_for(analytics_tmpl), "up")
        yield core_tmpl, analytics_tmpl
    finally:
        pg_server.drop_database(core_tmpl)
        pg_server.drop_database(analytics_tmpl)


@pytest.fixture
def dbs(pg_server: PgServer, _templates: tuple[str, str]) -> Iterator[TestDatabases]:
    """Fresh ``core`` (core schema, no rows) and ``analytics`` (migrated) databases."""
    core_tmpl, analytics_tmpl = _templates
    core_name, analytics_name = unique_db_name("core"), unique_db_name("analytics")
    databases = TestDatabases(
        core_url=pg_server.create_database(core_name, template=core_tmpl),
        analytics_url=pg_server.create_database(analytics_name, template=analytics_tmpl),
        server=pg_server,
    )
    try:
        yield databases
    finally:
        databases.close()
        pg_server.drop_database(core_name)
        pg_server.drop_database(analytics_name)


@pytest.fixture
def empty_database(pg_server: PgServer) -> Iterator[str]:
    """The URL of a fresh, empty database (nothing migrated), dropped afterwards."""
    name = unique_db_name("empty")
    try:
        yield pg_server.create_database(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def env(dbs: TestDatabases) -> dict[str, str]:
    """Environment for ``run_job.py`` subprocesses: the test databases, no Slack."""
    return cli_env(dbs)


@pytest.fixture(name="run_cli")
def run_cli_fixture() -> Callable[..., CliResult]:
    """``run_cli(args, env=...)`` -> (exit code, stdout, stderr) of ``run_job.py``."""
    return run_cli


@pytest.fixture(scope="session")
def password_role(pg_server: PgServer) -> Iterator[str]:
    """A login role with a real password, so the URLs of a test carry a secret."""
    with login_role_with_password(pg_server) as role:
        yield role


@pytest.fixture
def failures_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Failure files of in-process runs go to the test's tmp_path, not the repo."""
    monkeypatch.setenv("TABLESYNC_FAILURES_DIR", str(tmp_path / "failures"))


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog with the engine's debug lines (which path each batch took)."""
    caplog.set_level(logging.DEBUG, logger="services")
    return caplog


@pytest.fixture
def cursor_order_first_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """First loads read in cursor order, batch by batch (TABLESYNC_BACKFILL=off), for the
    modules that test batch semantics on a first load; backfills, the default for first
    loads, are tests/test_backfill.py."""
    monkeypatch.setenv("TABLESYNC_BACKFILL", "off")


@pytest.fixture
def proxies(dbs: TestDatabases) -> Iterator[dict[str, FaultProxy]]:
    """A fault proxy (tests/faultproxy.py) in front of each database, closed after."""
    started = {
        "core": FaultProxy.for_url(dbs.core_url),
        "analytics": FaultProxy.for_url(dbs.analytics_url),
    }
    try:
        yield started
    finally:
        for proxy in started.values():
            proxy.close()
