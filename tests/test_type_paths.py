"""Contract rule 17: types by substance, not by name; every type synced incrementally.

Binary COPY only between types of the same substance; a lossless conversion
through text otherwise; anything else refused before writing (exit 2). Types
without ``=`` load and then update; verify compares text forms made on each
server, so even a wrong conversion by the sync shows as a difference.
"""

from __future__ import annotations

from typing import Any

import pytest
from dbtools import TestDatabases
from opstools import JOB, databases
from synctools import definition, on_both, sync

from services.base.errors import EXIT_CONFIGURATION, PreflightError
from services.operations.verify import verify
from services.store import preflight, type_paths
from services.store.plan import CopyMode
from services.store.preflight import plan_definition

ROWS = "SELECT id, t::text FROM t ORDER BY id"


def _plan_mode(dbs: TestDatabases, **kwargs: Any) -> CopyMode:
    with dbs.core() as core, dbs.analytics() as analytics:
        export = definition("t", "at", **kwargs)
        plan = plan_definition(JOB, "t", export, core=core, analytics=analytics)
    return plan.mode


def _refused(dbs: TestDatabases) -> str:
    with pytest.raises(PreflightError) as caught:
        sync(dbs, definition("t", "at"))
    assert caught.value.exit_code == EXIT_CONFIGURATION
    assert dbs.query_analytics("SELECT count(*) FROM t") == [(0,)]
    assert dbs.query_analytics("SELECT count(*) FROM tablesync.positions") == [(0,)]
    return str(caught.value)


def _year_tables(dbs: TestDatabases, analytics_year: str) -> None:
    dbs.query_core("CREATE DOMAIN year AS integer CHECK (VALUE BETWEEN 1901 AND 2155)")
    dbs.query_analytics(f"CREATE DOMAIN year AS {analytics_year}")
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, at timestamptz NOT NULL, y year)")
    dbs.query_core("INSERT INTO t VALUES (1, '2020-01-01', 2012), (2, '2020-01-02', 1999)")


def test_a_domain_of_the_same_name_over_another_type_is_refused_before_writing(
    dbs: TestDatabases,
) -> None:
    # Issue 19, problem 2: binary COPY of a domain over integer into one over date
    # turned 2012 into 2005-07-05, by the types' names alone.
    _year_tables(dbs, "date")
    message = _refused(dbs)
    assert "column 'y' is year (domain over integer) in core but year (domain over date)" in message


def test_the_same_name_over_the_same_type_goes_as_bytes(dbs: TestDatabases) -> None:
    _year_tables(dbs, "integer CHECK (VALUE > 0)")
    assert _plan_mode(dbs) is CopyMode.BINARY
    sync(dbs, definition("t", "at"))
    assert dbs.query_analytics(ROWS) == dbs.query_core(ROWS)


def test_verify_finds_a_wrong_conversion_even_when_the_sync_trusts_it(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As before rule 17: two types of the same name taken for the same type.
    _year_tables(dbs, "date")
    monkeypatch.setattr(
        preflight, "column_path", lambda c, s, d: type_paths.ColumnPath(c, s, d, type_paths.BINARY)
    )
    sync(dbs, definition("t", "at"))
    assert dbs.query_analytics("SELECT y::text FROM t ORDER BY id")[0] == ("2005-07-05",)
    with databases(dbs) as pools:
        report = verify(pools, JOB, "t", definition("t", "at"))
    assert report.counts["differing"] == 2, report.lines()


@pytest.mark.parametrize(
    ("core_type", "analytics_type", "value", "mode"),
    [
        ("varchar(10)", "text", "'ten chars!'", CopyMode.TEXT),
        ("year", "integer", "2012", CopyMode.BINARY),  # a domain's substance is its base type
        ("integer", "bigint", "-2147483648", CopyMode.TEXT),
        ("numeric(10, 2)", "numeric", "12.50", CopyMode.TEXT),
        ("mood", "text", "'ok'", CopyMode.TEXT),
        ("mood[]", "text[]", "'{ok,sad,NULL}'", CopyMode.TEXT),
        ("jsonb", "json", '\'{"b": 1, "a": 12.50}\'', CopyMode.TEXT),
        ("timestamp(3)", "timestamp", "'2020-01-01 10:00:00.123'", CopyMode.TEXT),
        ("int4range", "int8range", "'[1,5)'", CopyMode.TEXT),
        # An enum's OID differs between databases, and a binary array carries it.
        ("mood[]", "mood[]", "'{ok,sad,NULL}'", CopyMode.TEXT),
        ("integer[]", "integer[]", "'{1,NULL,3}'", CopyMode.BINARY),
    ],
)
def test_a_lossless_conversion_goes_through_text_and_arrives_exactly(
    dbs: TestDatabases, core_type: str, analytics_type: str, value: str, mode: CopyMode
) -> None:
    on_both(dbs, "CREATE DOMAIN year AS integer; CREATE TYPE mood AS ENUM ('sad', 'ok')")
    dbs.query_core(f"CREATE TABLE t (id int PRIMARY KEY, at timestamptz NOT NULL, v {core_type})")
    dbs.query_analytics(f"CREATE TABLE t (id int PRIMARY KEY, at timestamptz, v {analytics_type})")
    dbs.query_core(f"INSERT INTO t VALUES (1, now(), {value}), (2, now(), NULL)")
    assert _plan_mode(dbs) is mode
    sync(dbs, definition("t", "at"))
    assert dbs.query_analytics(ROWS) == dbs.query_core(ROWS)
    with databases(dbs) as pools:
        assert not verify(pools, JOB, "t", definition("t", "at")).differs


@pytest.mark.parametrize(
    ("core_type", "analytics_type"),
    [
        ("timestamp", "timestamptz"),  # the text means another instant under another zone
        ("numeric", "numeric(10, 2)"),  # 1.005 would become 1.01
        ("float8", "float4"),
        ("text", "name"),  # cut at 63 bytes
        ("mood", "short_mood"),  # a label analytics does not have
        ("box[]", "text[]"),  # box arrays are cut at ';', text arrays at ','
        ("integer", "date"),
    ],
)
def test_a_conversion_that_can_alter_values_is_refused_naming_both_types(
    dbs: TestDatabases, core_type: str, analytics_type: str
) -> None:
    on_both(dbs, "CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE TYPE short_mood AS ENUM ('ok')")
    dbs.query_core(f"CREATE TABLE t (id int PRIMARY KEY, at timestamptz NOT NULL, v {core_type})")
    dbs.query_analytics(f"CREATE TABLE t (id int PRIMARY KEY, at timestamptz, v {analytics_type})")
    dbs.query_core("INSERT INTO t (id, at) VALUES (1, now())")
    message = _refused(dbs)
    assert f"column 'v' is {core_type}" in message.replace("double precision", "float8")
    assert "no conversion keeps every value" in message


# Types without "=" (issue 19, problem 3: loaded once, then every run failed).
NO_EQUALITY = {
    "txid_snapshot": ("txid_current_snapshot()", "'10:20:10,14,15'"),
    "pg_snapshot": ("pg_current_snapshot()", "'10:20:10,14,15'"),
    "jsonpath": ("'$.a'", "'$.b[*] ? (@ > 1)'"),
    "json": ("'{\"a\": 1}'", "'{\"a\":  1}'"),
    "point": ("'(1,2)'", "'(2,1)'"),
    "json[]": ("ARRAY['1'::json]", "ARRAY['2'::json, NULL]"),
    "holder": ("ROW('{}'::json, 1)", "ROW('[]'::json, 1)"),
}
# Types whose "=" calls two values equal that the destination must still be told about.
EQUAL_BUT_NOT_THE_SAME = {
    "box": ("'(0,0),(1,1)'", "'(1,1),(2,2)'"),  # "=" compares areas
    "interval": ("'1 day'", "'24 hours'"),
    "numeric": ("1.0", "1.00"),
    "float8": ("0", "'-0'"),
}


@pytest.mark.parametrize("column_type", list(NO_EQUALITY) + list(EQUAL_BUT_NOT_THE_SAME), ids=str)
def test_every_type_loads_then_takes_updates_incrementally(
    dbs: TestDatabases, column_type: str
) -> None:
    first, second = {**NO_EQUALITY, **EQUAL_BUT_NOT_THE_SAME}[column_type]
    on_both(dbs, "CREATE TYPE holder AS (doc json, n int)")
    dbs.query_core(f"CREATE TABLE t (id int PRIMARY KEY, at int NOT NULL, v {column_type})")
    # Without the cursor column: a row read again unchanged is the same row in analytics.
    dbs.query_analytics(f"CREATE TABLE t (id int PRIMARY KEY, v {column_type})")
    export = definition("t", "at", columns=["id", "v"])
    dbs.query_core(f"INSERT INTO t VALUES (1, 1, {first}), (2, 2, {first})")
    assert sync(dbs, export).counts.created == 2

    dbs.query_core(f"UPDATE t SET v = {second}, at = at + 10 WHERE id = 1")
    dbs.query_core("UPDATE t SET at = at + 10 WHERE id = 2")  # read again, unchanged
    counts = sync(dbs, export).counts
    assert (counts.updated, counts.skipped) == (1, 1)
    core_rows = dbs.query_core("SELECT id, (id, v)::text FROM t ORDER BY id")
    assert dbs.query_analytics(ROWS) == core_rows
    with databases(dbs) as pools:
        assert not verify(pools, JOB, "t", export).differs


def test_verify_expects_the_last_row_of_a_key_core_holds_twice(dbs: TestDatabases) -> None:
    # No unique index on the key in core: the sync keeps the key's last row in cursor
    # order, and so must the rows verify builds from core's text forms.
    dbs.query_core("CREATE TABLE t (id int NOT NULL, at int NOT NULL, v text)")
    dbs.query_analytics("CREATE TABLE t (id int PRIMARY KEY, at int, v text)")
    dbs.query_core("INSERT INTO t VALUES (1, 1, 'old'), (1, 2, 'new'), (2, 3, 'only')")
    sync(dbs, definition("t", "at"))
    with databases(dbs) as pools:
        assert not verify(pools, JOB, "t", definition("t", "at")).differs
        dbs.query_analytics("UPDATE t SET v = 'old' WHERE id = 1")
        report = verify(pools, JOB, "t", definition("t", "at"))
    assert report.counts["differing"] == 1 and report.examples["differing"] == ["id=1"]
