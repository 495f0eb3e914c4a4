"""Helpers of the operator-command tests (verify, replay, refresh, dry run, scale-out)."""

from __future__ import annotations

from collections.abc import Callable

from dbtools import CliResult, TestDatabases

from jobs.export_to_pg.handler import load_definitions
from services.base.db import Databases
from services.base.settings import DatabaseUrls
from tools.testdb.seed_core import seed

JOB = "export-to-pg"
RunCli = Callable[..., CliResult]


def seeded(dbs: TestDatabases, *, stat_events: int = 200, import_jobs: int = 20) -> None:
    """Load deterministic sample rows into the test's core database."""
    seed(dbs.core_url, stat_events=stat_events, import_jobs=import_jobs)


def synced(dbs: TestDatabases, run_cli: RunCli, env: dict[str, str], *names: str) -> None:
    """Run the real CLI once for ``names`` and insist that it succeeded."""
    code, out, err = run_cli(["export-to-pg", *names], env=env)
    assert code == 0, out + err


def databases(dbs: TestDatabases) -> Databases:
    """tablesync's own pools on the test databases (close them, or use ``with``)."""
    return Databases(DatabaseUrls(core=dbs.core_url, analytics=dbs.analytics_url))


def definition(name: str):  # type: ignore[no-untyped-def]
    """A shipped definition by name."""
    return load_definitions()[name]


def count(dbs: TestDatabases, table: str) -> int:
    """Rows in an analytics table (schema-qualified name, trusted test input)."""
    return int(dbs.query_analytics(f"SELECT count(*) FROM {table}".encode())[0][0])


def runs(dbs: TestDatabases, definition_name: str) -> list[tuple[object, ...]]:
    """(status, rows_read, cursor_before, cursor_after, note, command) of each run record."""
    return dbs.query_analytics(
        "SELECT status, rows_read, cursor_before, cursor_after, note, command"
        " FROM tablesync.runs WHERE definition = %s ORDER BY id",
        (definition_name,),
    )


def position(dbs: TestDatabases, definition_name: str) -> tuple[object, ...] | None:
    """(cursor_value, cursor_id) saved for a definition, or None."""
    rows = dbs.query_analytics(
        "SELECT cursor_value, cursor_id FROM tablesync.positions WHERE definition = %s",
        (definition_name,),
    )
    return tuple(rows[0]) if rows else None


def saved_state(dbs: TestDatabases, definition_name: str) -> tuple[object, ...]:
    """(position, run records) of a definition: equal before and after means nothing moved."""
    return position(dbs, definition_name), runs(dbs, definition_name)
