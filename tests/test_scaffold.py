"""`python run_job.py scaffold`: from core's catalog to a migration applied by the real dbmate,
definitions pasted as printed, a real sync, and every row compared as PostgreSQL's text."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_driver import DEFINITIONS_VARIABLE
from dbtools import CliResult, TestDatabases, run_dbmate, unique_db_name
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
    config = tmp_path / f"{module}.py"
    config.write_text(
        "from services import ExportDefinition, build_definitions\n\n"
        "DEFINITIONS: dict[str, ExportDefinition] = build_definitions(\n"
        f"    {{\n{entries}    }}\n)\n"
    )
    # Laid out as config.py is, the pasted entries need no reformatting.
    ruff = Path(sys.executable).parent / "ruff"
    formatted = subprocess.run([ruff, "format", "--check", "--diff", config], capture_output=True)
    assert formatted.returncode == 0, formatted.stdout.decode() + formatted.stderr.decode()
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


def assert_same_types(dbs: TestDatabases, *, expected: int = 6) -> None:
    """Every type core's tables use exists in analytics with the very same definition."""
    with dbs.core() as core, dbs.analytics() as analytics:
        oids = [r[0] for r in core.execute(
            "SELECT atttypid::int FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'shop'"
            " AND a.attnum > 0"
        )]  # fmt: skip
        wanted = read_types(core, oids).by_name()
        there = find_types(analytics, wanted)
    # mood, address, floatrange (and its multirange), two domains; and what a test added
    assert len(wanted) == expected
    for name, definition in wanted.items():
        assert name in there, name
        assert there[name].same_as(definition), (definition.describe(), there[name].describe())


def test_every_type_family_scaffolds_applies_syncs_and_compares_exactly(
    every_type: TestDatabases, env: dict[str, str], run_cli: RunCli, migrations: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    code, out, err = scaffold(run_cli, env, migrations, "shop.*")
    assert code == 0, err
    [written] = migrations.glob("*_scaffold_shop.sql")
    assert f"wrote {written}: 3 table(s), 5 type(s) to create" in out
    run_dbmate(every_type.analytics_url, "up", migrations_dir=migrations)
    assert_same_types(every_type)

    pasted = paste(out, tmp_path, env)
    # The types made are core's in substance, as the run's own check (rule 17) judges: an
    # enum's rows travel as binary COPY (arrays and composites carry OIDs: text).
    code, out, err = run_cli([JOB, "--dry-run", "event"], env=pasted)
    assert code == 0 and "(binary copy)" in out, out + err
    code, out, err = run_cli([JOB, "--all"], env=pasted)
    assert code == 0, err
    assert_same_rows(every_type)
    code, out, err = run_cli([JOB, "--all", "--verify"], env=pasted)
    assert code == 0, out + err

    # Changes flow too: an update and an insert in core, the next run brings them.
    every_type.query_core(
        'UPDATE shop."Everything" SET feeling = \'happy\', "updatedAt" = now() WHERE id = 2;'
        "INSERT INTO shop.line VALUES (9, 9, now(), 2, 'Q9');"
        "UPDATE shop.line SET qty = 5, updated_at = now() WHERE order_id = 1 AND line_no = 2;"
        "INSERT INTO shop.event VALUES (3, '2026-07-07', 'ok', 'c')"
    )
    code, out, err = run_cli([JOB, "--all"], env=pasted)
    assert code == 0, err
    assert_same_rows(every_type)


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
        '        "line": {\n'
        '            "source": {\n'
        '                "schema": "shop",\n'
        '                "table": "line",\n'
        '                "cursor": {"field": "updated_at", "id_field": ["order_id", "line_no"]},\n'
        "            },\n"
        '            "destination": {\n'
        '                "schema": "analytics_raw",\n'
        '                "table": "line",\n'
        '                "conflict_columns": ["order_id", "line_no"],\n'
        "            },\n"
        "        },\n"
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


GAINED = """
CREATE TYPE shop.grade AS ENUM ('a', 'b', 'c');
ALTER TYPE shop.mood ADD VALUE 'ecstatic' AFTER 'happy';
ALTER TYPE shop.mood ADD VALUE 'meh' BEFORE 'sad';
ALTER DOMAIN shop.sku DROP CONSTRAINT sku_check;
ALTER TABLE shop."Everything"
    ADD COLUMN grade shop.grade,
    ADD COLUMN weights numeric(8, 2)[],
    ADD COLUMN "New Home" shop.address,
    ADD COLUMN stamp timestamptz NOT NULL DEFAULT '2026-02-02 02:02:02+00',
    ADD COLUMN tags text[],
    ALTER COLUMN label TYPE varchar(40);
UPDATE shop."Everything" SET grade = 'c', weights = '{1.25,NULL}', "New Home" = ROW('x', 'y', 'ok'),
    tags = '{"a b",""}' WHERE id = 1;
UPDATE shop."Everything" SET label = 'longer, still < 20', "updatedAt" = now() WHERE id = 2;
UPDATE shop."Everything" SET feeling = 'ecstatic', feelings = '{meh,ecstatic}' WHERE id = 3;
"""
ALTER_MIGRATION_UP = """\
-- migrate:up
-- Made by `python run_job.py scaffold --alter Everything`: the columns core gained since these \
destinations were made.
ALTER TYPE "shop"."mood" ADD VALUE 'meh' BEFORE 'sad';
ALTER TYPE "shop"."mood" ADD VALUE 'ecstatic' AFTER 'happy';
-- core type shop.sku is domain over character(8) but analytics's is domain over character(8) \
CHECK ((VALUE ~ '^[A-Z0-9]+ *$'::text)): a person must change analytics's (its values may need \
mapping)
CREATE TYPE "shop"."grade" AS ENUM ('a', 'b', 'c');

-- Everything
ALTER TABLE "analytics_raw"."Everything"
    ADD COLUMN "grade" "shop"."grade",
    ADD COLUMN "weights" numeric(8,2)[],
    ADD COLUMN "New Home" "shop"."address",
    ADD COLUMN "stamp" timestamp with time zone,
    ADD COLUMN "tags" text[];
-- stamp is NOT NULL in core; not here, as the rows synced before have no value for it until \
they are read again
-- label is character varying(40) in core but character varying(20) here; to follow core (it \
rewrites the table, and fails where a value does not convert), uncomment:
-- ALTER TABLE "analytics_raw"."Everything" ALTER COLUMN "label" TYPE character varying(40) \
USING "label"::character varying(40);

-- migrate:down
ALTER TABLE "analytics_raw"."Everything" DROP COLUMN "grade", DROP COLUMN "weights", DROP \
COLUMN "New Home", DROP COLUMN "stamp", DROP COLUMN "tags";
DROP TYPE "shop"."grade";
-- (an enum's added labels stay: PostgreSQL cannot remove one)
"""


def test_alter_adds_the_columns_core_gained_and_comments_a_changed_type(
    every_type: TestDatabases, env: dict[str, str], run_cli: RunCli, migrations: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    code, out, err = scaffold(run_cli, env, migrations, "shop.Everything")
    assert code == 0, err
    run_dbmate(every_type.analytics_url, "up", migrations_dir=migrations)
    pasted = paste(out, tmp_path, env)
    assert run_cli([JOB, "Everything"], env=pasted).code == 0
    types, columns = GAINED.split("ALTER TABLE", 1)  # a new label is used once committed
    every_type.query_core(types.encode())
    every_type.query_core(("ALTER TABLE" + columns).encode())

    # Rule 12's drift error names the command that fixes it.
    code, out, err = run_cli([JOB, "Everything"], env=pasted)
    assert code == 2
    fix = "`python run_job.py scaffold --alter Everything` writes the migration that adds them;"
    assert (
        "error: Everything: analytics table analytics_raw.Everything lacks source column 'grade'"
        f" that core has: {fix} then run `dbmate up`"
    ) in err.splitlines()

    code, out, err = run_cli(
        ["scaffold", "--alter", "Everything", "--migrations-dir", str(migrations)], env=pasted
    )
    assert code == 0, err
    [written] = migrations.glob("*_alter_everything.sql")
    assert written.read_text() == ALTER_MIGRATION_UP
    assert (
        "Everything: adds grade, weights, New Home, stamp, tags; rows synced before hold NULL"
        " there until read again: `python run_job.py export-to-pg --full-refresh Everything`"
        " after `dbmate up`"
    ) in out
    assert "warning: Everything: the type of label changed in core" in err
    assert "shop.mood: gains the enum labels core added" in out
    assert "warning: type shop.sku differs between core and analytics" in err
    run_dbmate(every_type.analytics_url, "up", migrations_dir=migrations)
    # What the migration left to a person, done by one.
    every_type.query_analytics("ALTER DOMAIN shop.sku DROP CONSTRAINT sku_check")
    assert_same_types(every_type, expected=7)

    code, out, err = run_cli([JOB, "--full-refresh", "--yes", "Everything"], env=pasted)
    assert code == 0, err
    assert_same_rows(every_type, [TABLES[0]])
    # What is left is the commented type change, for a person; the down undoes the rest.
    code, out, err = run_cli(["scaffold", "--alter", "Everything", "--print"], env=pasted)
    assert code == 0 and "ADD COLUMN" not in out
    assert '-- ALTER TABLE "analytics_raw"."Everything" ALTER COLUMN "label" TYPE' in out
    run_dbmate(every_type.analytics_url, "rollback", migrations_dir=migrations)
    assert "grade" not in column_names(every_type, "Everything")


def column_names(dbs: TestDatabases, table: str) -> list[str]:
    return [r[0] for r in dbs.query_analytics(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
        " AND NOT attisdropped", [f'analytics_raw."{table}"'],
    )]  # fmt: skip


def test_alter_with_nothing_gained_writes_nothing(
    every_type: TestDatabases, env: dict[str, str], run_cli: RunCli, migrations: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    code, out, err = scaffold(run_cli, env, migrations, "shop.Everything")
    run_dbmate(every_type.analytics_url, "up", migrations_dir=migrations)
    pasted = paste(out, tmp_path, env)
    before = sorted(migrations.iterdir())
    code, out, err = run_cli(
        ["scaffold", "--alter", "Everything", "--migrations-dir", str(migrations)], env=pasted
    )
    assert (code, out) == (
        0,
        "nothing to add: Everything have every column and type core has\n",
    )
    assert sorted(migrations.iterdir()) == before


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (["shop.everything"], ["core has no table shop.everything; did you mean shop.Everything?"]),
        (["everything"], ["core has no table public.everything; did you mean shop.Everything?"]),
        (["shp.*"], ["core has no tables in schema shp; did you mean shop.*?"]),
        (
            ["shop.nothing_like_it", "shop.lines"],
            [
                "core has no table shop.nothing_like_it",
                "core has no table shop.lines; did you mean shop.line?",
            ],
        ),
        (
            ["public.plain"],
            [
                "core table public.plain: no timestamp column named like updated_at, updatedAt,"
                " last_update or modified; name the column rows are read in order of with"
                " --cursor plain=COLUMN (columns: id, created, updated_at_text)"
            ],
        ),
        (
            ["public.twice"],
            [
                "core table public.twice: both updated_at, UpdatedAt could be its cursor; name the"
                " column rows are read in order of with --cursor twice=COLUMN (columns: id,"
                " updated_at, UpdatedAt)"
            ],
        ),
        (
            ["public.plain", "--cursor", "plain=created_at"],
            [
                "--cursor: core table public.plain has no column 'created_at'; did you mean"
                " 'created'?"
            ],
        ),
        (
            ["public.nokey"],
            [
                "core table public.nokey has no primary key: the destination's key and the"
                " definition's conflict_columns come from it; add one in core, or write this"
                " table's migration by hand"
            ],
        ),
        (
            ["public.a_view"],
            ["core's public.a_view is a view, not a table: scaffold copies tables"],
        ),
        (
            [],
            [
                "name at least one table (orders, sales.orders, 'sales.*'), or definitions with"
                " --alter"
            ],
        ),
        (["--alter", "statevent"], [
            "unknown definition 'statevent' for export-to-pg; did you mean 'StatEvent'?"
        ]),
        (["--alter", "StatEvent"], [
            "StatEvent: its destination's columns are its transform's (or select's), not core's by"
            " name; add them with a migration written by hand"
        ]),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line_each_and_writes_nothing(
    every_type: TestDatabases, env: dict[str, str], run_cli: RunCli, migrations: Path,
    args: list[str], lines: list[str],
) -> None:  # fmt: skip
    every_type.query_core(
        "CREATE TABLE public.plain (id int PRIMARY KEY, created timestamptz, updated_at_text text);"
        "CREATE TABLE public.twice (id int PRIMARY KEY, updated_at timestamp,"
        ' "UpdatedAt" timestamptz);'
        "CREATE TABLE public.nokey (updated_at timestamptz);"
        "CREATE VIEW public.a_view AS SELECT 1 AS id"
    )
    code, out, err = scaffold(run_cli, env, migrations, *args)
    assert (code, err.splitlines()) == (2, [f"error: {line}" for line in lines])
    assert out == "" and list(migrations.iterdir()) == []


def test_a_cursor_named_for_a_table_or_for_all(
    every_type: TestDatabases, env: dict[str, str], run_cli: RunCli, migrations: Path
) -> None:
    every_type.query_core("CREATE TABLE public.plain (id int PRIMARY KEY, created timestamptz)")
    code, out, err = scaffold(run_cli, env, migrations, "plain", "--cursor", "plain=created")
    assert code == 0, err
    assert '"cursor": {"field": "created", "id_field": "id"}' in out
    code, out, err = scaffold(run_cli, env, migrations, "plain", "--cursor", "id", "--print")
    assert code == 0, err
    assert '"cursor": {"field": "id"}' in err  # the whole key is the cursor: no tie-breaker


def test_a_same_named_type_of_another_definition_in_analytics_is_refused(
    every_type: TestDatabases, env: dict[str, str], run_cli: RunCli, migrations: Path
) -> None:
    every_type.query_analytics(
        "CREATE SCHEMA shop; CREATE TYPE shop.mood AS ENUM ('sad', 'ok', 'happy');"
        "CREATE DOMAIN shop.sku AS character(8)"
    )
    code, out, err = scaffold(run_cli, env, migrations, "shop.Everything")
    assert code == 2 and list(migrations.iterdir()) == []
    assert err.splitlines() == [
        "error: core type shop.mood is enum ('sad', 'ok', 'happy', 'it''s \"fine\"') but analytics"
        " type shop.mood is enum ('sad', 'ok', 'happy'): a column of that type would not hold the"
        " same values; make analytics's type match core's, or drop it, and scaffold again",
        "error: core type shop.sku is domain over character(8)"
        " CHECK ((VALUE ~ '^[A-Z0-9]+ *$'::text)) but analytics type shop.sku is domain over"
        " character(8): a column of that type would not hold the same values; make analytics's"
        " type match core's, or drop it, and scaffold again",
    ]  # fmt: skip
    # The same definition under the same name is used as it is, not made again.
    every_type.query_analytics(
        "DROP DOMAIN shop.sku; CREATE DOMAIN shop.sku AS character(8)"
        " CONSTRAINT other_name CHECK (VALUE ~ '^[A-Z0-9]+ *$');"
        "ALTER TYPE shop.mood ADD VALUE 'it''s \"fine\"'"
    )
    code, out, err = scaffold(run_cli, env, migrations, "shop.Everything", "--print")
    assert code == 0, err
    assert 'shop"."mood" AS ENUM' not in out and 'CREATE DOMAIN "shop"."sku"' not in out
    assert 'CREATE DOMAIN "shop"."positive_money"' in out


def test_a_destination_that_exists_is_left_to_alter(
    every_type: TestDatabases, env: dict[str, str], run_cli: RunCli, migrations: Path
) -> None:
    every_type.query_analytics("CREATE TABLE analytics_raw.line (x int)")
    code, out, err = scaffold(run_cli, env, migrations, "shop.line")
    assert (code, err) == (2, (
        "error: analytics already has analytics_raw.line: `python run_job.py scaffold --alter"
        " DEFINITION` adds the columns core gained to a synced table\n"
    ))  # fmt: skip


def test_definitions_fields_and_columns_say_what_was_meant(
    dbs: TestDatabases, env: dict[str, str], run_cli: RunCli, tmp_path: Path
) -> None:
    code, out, err = run_cli([JOB, "statevent"], env=env)
    assert (code, err) == (2, (
        "error: unknown definition 'statevent' for export-to-pg; known: StatEvent,"
        " StatEventSQL, ImportJob; did you mean 'StatEvent'?\n"
    ))  # fmt: skip
    (tmp_path / "misspelt.py").write_text(
        "from services import build_definitions\n"
        "DEFINITIONS = build_definitions({'t': {\n"
        "    'source': {'table': 'ImportJob', 'cursor': {'field': 'finishedat'}},\n"
        "    'destination': {'table': 'import_job', 'conflict_colums': ['id']},\n"
        "}})\n"
    )
    misspelt = {**env, "PYTHONPATH": str(tmp_path), DEFINITIONS_VARIABLE: "misspelt"}
    code, out, err = run_cli([JOB, "t"], env=misspelt)
    assert (code, err.splitlines()) == (2, [
        "error: definition 't': destination.conflict_columns: Field required",
        "error: definition 't': destination.conflict_colums: unknown field; did you mean"
        " 'conflict_columns'?",
    ])  # fmt: skip
    (tmp_path / "misspelt.py").write_text(
        (tmp_path / "misspelt.py").read_text().replace("conflict_colums", "conflict_columns")
    )
    code, out, err = run_cli([JOB, "t"], env=misspelt)
    assert (code, err.splitlines()[0]) == (2, (
        "error: t: core table public.ImportJob has no column 'finishedat'; did you mean"
        " 'finishedAt'?"
    ))  # fmt: skip


def test_version(run_cli: RunCli) -> None:
    assert run_cli(["--version"]) == (0, "tablesync 0.1.0\n", "")


def test_a_fifteen_table_schema_is_adopted_to_a_verified_analytics(
    empty_database: str, pg_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `python -m tools.bench.adoption` (tools/bench/adoption.py), on the session's server: the
    # sample schema (enum, domain, arrays, tsvector, bytea, composite keys, a partitioned
    # table) from a project copy with the demo set aside, to every table equal to core's.
    from tools.bench.adoption import adopt

    analytics = unique_db_name("adoption")
    try:
        code = adopt(empty_database, pg_server.create_database(analytics), tmp_path)
    finally:
        pg_server.drop_database(analytics)
    out = capsys.readouterr().out
    assert code == 0, out
    assert (
        "  | error: core table rental.payment: no timestamp column named like updated_at,"
        " updatedAt, last_update or modified; name the column rows are read in order of with"
        " --cursor payment=COLUMN (columns: payment_id, customer_id, staff_id, rental_id,"
        " amount, payment_date)\n"
    ) in out
    assert "$ (paste the 15 entries into config.py)\n" in out
    assert "compared 15 tables row by row: 15 identical\n" in out


def test_a_schema_scaffolded_again_makes_only_the_tables_core_gained(
    every_type: TestDatabases, env: dict[str, str], run_cli: RunCli, migrations: Path
) -> None:
    assert scaffold(run_cli, env, migrations, "shop.*").code == 0
    run_dbmate(every_type.analytics_url, "up", migrations_dir=migrations)
    code, out, err = scaffold(run_cli, env, migrations, "shop.*")
    assert (code, out) == (0, "nothing to scaffold: analytics has a destination for every"
                              " table of shop.*\n")  # fmt: skip
    every_type.query_core(
        "CREATE TABLE shop.refund (id int PRIMARY KEY, updated_at timestamptz, why shop.mood)"
    )
    code, out, err = scaffold(run_cli, env, migrations, "shop.*", "--print")
    assert code == 0, err
    assert err.startswith(
        "left out, analytics has them: analytics_raw.Everything, analytics_raw.event,"
        " analytics_raw.line\n"
    )
    assert 'CREATE TABLE "analytics_raw"."refund"' in out and out.count("CREATE TABLE") == 1
    assert "CREATE TYPE" not in out  # shop.mood is there, with core's definition
    # A table named, not found by `*`, whose destination exists is --alter's.
    code, out, err = scaffold(run_cli, env, migrations, "shop.*", "shop.line")
    assert (code, err) == (2, (
        "error: analytics already has analytics_raw.line: `python run_job.py scaffold --alter"
        " DEFINITION` adds the columns core gained to a synced table\n"
    ))  # fmt: skip
