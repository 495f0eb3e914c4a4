"""`python run_job.py scaffold`: from core's catalog to a migration applied by the real dbmate,
definitions pasted as printed, a real sync, and every row compared as PostgreSQL's text."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_driver import DEFINITIONS_VARIABLE
from dbtools import CliResult, TestDatabases, run_dbmate
from psycopg import sql

from services.store.type_definitions import find_types, read_types

SCHEMAS = Path(__file__).resolve().parent / "scaffold_schemas"
JOB = "export-to-pg"
PASTE_AT = "paste into DEFINITIONS in jobs/export_to_pg/config.py:\n"
RunCli = Callable[..., CliResult]
# (core table, analytics table, key) of every_type.sql's tables.
TABLES = [
    (("shop", "Everything"), ("analytics_raw", "Everything"), "id"),
    (("shop", "line"), ("analytics_raw", "line"), "order_id, line_no"),
    (("shop", "event"), ("analytics_raw", "event"), "id, modified"),
]
SINGLE_KEY = [TABLES[0], TABLES[2]]  # the tie-breaker of each is one column


@pytest.fixture
def every_type(dbs: TestDatabases) -> TestDatabases:
    """Core with tests/scaffold_schemas/every_type.sql: every type family, rows included."""
    dbs.query_core((SCHEMAS / "every_type.sql").read_bytes())
    return dbs


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    """A migrations directory of the test's own, so db/migrations is never written."""
    path = tmp_path / "migrations"
    path.mkdir()
    return path


def scaffold(run_cli: RunCli, env: dict[str, str], migrations: Path, *args: str) -> CliResult:
    result: CliResult = run_cli(["scaffold", "--migrations-dir", str(migrations), *args], env=env)
    return result


def paste(out: str, tmp_path: Path, env: dict[str, str], module: str = "pasted") -> dict[str, str]:
    """The entries scaffold printed, pasted into a config module as a user would: the env
    of a CLI whose export-to-pg DEFINITIONS are that module's."""
    entries = out.split(PASTE_AT, 1)[1]
    (tmp_path / f"{module}.py").write_text(
        "from services import build_definitions\n\n"
        f"DEFINITIONS = build_definitions({{\n{entries}}})\n"
    )
    path = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    return {**env, "PYTHONPATH": path, DEFINITIONS_VARIABLE: module}


def rows_as_text(query: Callable[..., list[Any]], table: tuple[str, str], key: str) -> list[str]:
    statement = sql.SQL("SELECT t::text FROM {} t ORDER BY {}").format(
        sql.Identifier(*table), sql.SQL(key)
    )
    return [r[0] for r in query(statement)]


def assert_same_rows(dbs: TestDatabases, tables: list[Any] = TABLES) -> None:
    for source, dest, key in tables:
        core = rows_as_text(dbs.query_core, source, key)
        analytics = rows_as_text(dbs.query_analytics, dest, key)
        assert core and analytics == core, f"{source} -> {dest}"


def assert_same_types(dbs: TestDatabases) -> None:
    """Every type core's tables use exists in analytics with the very same definition."""
    with dbs.core() as core, dbs.analytics() as analytics:
        oids = [r[0] for r in core.execute(
            "SELECT atttypid::int FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'shop'"
            " AND a.attnum > 0"
        )]  # fmt: skip
        wanted = read_types(core, oids).by_name()
        there = find_types(analytics, wanted)
    assert len(wanted) == 6  # mood, address, floatrange (and its multirange), two domains
    for name, definition in wanted.items():
        assert name in there, name
        assert there[name].same_as(definition), (definition.describe(), there[name].describe())


def test_every_type_family_scaffolds_applies_syncs_and_compares_exactly(
    every_type: TestDatabases, env: dict[str, str], run_cli: RunCli, migrations: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    code, out, err = scaffold(run_cli, env, migrations, "shop.Everything", "shop.event")
    assert code == 0, err
    [written] = migrations.glob("*_scaffold_shop_everything_shop_event.sql")
    assert f"wrote {written}: 2 table(s), 5 type(s) to create" in out
    run_dbmate(every_type.analytics_url, "up", migrations_dir=migrations)
    assert_same_types(every_type)

    pasted = paste(out, tmp_path, env)
    code, out, err = run_cli([JOB, "--all"], env=pasted)
    assert code == 0, err
    assert_same_rows(every_type, SINGLE_KEY)
    code, out, err = run_cli([JOB, "--all", "--verify"], env=pasted)
    assert code == 0, out + err

    # Changes flow too: an update and an insert in core, the next run brings them.
    every_type.query_core(
        'UPDATE shop."Everything" SET feeling = \'happy\', "updatedAt" = now() WHERE id = 2;'
        "INSERT INTO shop.event VALUES (3, '2026-07-07', 'ok', 'c')"
    )
    code, out, err = run_cli([JOB, "--all"], env=pasted)
    assert code == 0, err
    assert_same_rows(every_type, SINGLE_KEY)


def test_the_destination_has_no_defaults_sequences_keys_or_triggers_and_is_plain(
    every_type: TestDatabases, env: dict[str, str], run_cli: RunCli, migrations: Path
) -> None:
    assert scaffold(run_cli, env, migrations, "shop.*").code == 0
    run_dbmate(every_type.analytics_url, "up", migrations_dir=migrations)
    q = every_type.query_analytics
    assert (
        q(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'analytics_raw'"
            " AND table_name IN ('Everything', 'line', 'event')"
            " AND (column_default IS NOT NULL OR is_identity = 'YES' OR is_generated <> 'NEVER')"
        )
        == []
    )
    assert q(
        "SELECT relname, relkind::text FROM pg_class"
        " WHERE relnamespace = 'analytics_raw'::regnamespace AND relkind IN ('r', 'p', 'S')"
        " AND relname IN ('Everything', 'line', 'event', 'event_2025') ORDER BY 1"
    ) == [("Everything", "r"), ("event", "r"), ("line", "r")]  # fmt: skip
    assert q(
        "SELECT conrelid::regclass::text, contype::text, pg_get_constraintdef(oid) FROM"
        " pg_constraint WHERE conrelid::regclass::text IN ('analytics_raw.\"Everything\"',"
        " 'analytics_raw.line', 'analytics_raw.event') ORDER BY 1"
    ) == [
        ('analytics_raw."Everything"', "p", "PRIMARY KEY (id)"),
        ("analytics_raw.event", "p", "PRIMARY KEY (id, modified)"),
        ("analytics_raw.line", "p", "PRIMARY KEY (order_id, line_no)"),
    ]
    assert q("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal") == [(0,)]
    not_null = q(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'analytics_raw'"
        " AND table_name = 'line' AND is_nullable = 'NO' ORDER BY ordinal_position"
    )
    assert not_null == [("order_id",), ("line_no",), ("qty",)]


def test_the_printed_entries_name_cursor_id_field_and_conflict_columns(
    every_type: TestDatabases, env: dict[str, str], run_cli: RunCli, migrations: Path
) -> None:
    code, out, err = scaffold(run_cli, env, migrations, "shop.line", "shop.event", "--print")
    assert code == 0, err
    assert list(migrations.iterdir()) == []  # --print writes nothing
    assert out.startswith("-- migrate:up\n") and "\n-- migrate:down\n" in out
    assert PASTE_AT in err
    assert (
        '    "line": {\n'
        '        "source": {"schema": "shop", "table": "line", "cursor": {"field": "updated_at",'
        ' "id_field": ["order_id", "line_no"]}},\n'
        '        "destination": {"schema": "analytics_raw", "table": "line", "conflict_columns":'
        ' ["order_id", "line_no"]},\n'
        "    },\n"
    ) in err
    # The cursor is part of event's key: the tie-breaker is the rest of it.
    assert '"cursor": {"field": "modified", "id_field": "id"}' in err
    assert (
        "warning: line: core's shop.line.updated_at allows NULL; rows where it is NULL are not"
        " synced\n"
        "warning: line: core has no index on shop.line (updated_at, order_id, line_no), the"
        " order every run reads in; ask the application's team for:\n"
        '    CREATE INDEX CONCURRENTLY ON "shop"."line" ("updated_at", "order_id", "line_no");\n'
        "warning: event: core has no index on shop.event (modified, id), the order every run"
        " reads in; ask the application's team for:\n"
        '    CREATE INDEX ON "shop"."event" ("modified", "id");\n'
    ) in err
