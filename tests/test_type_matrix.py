"""Contract rule 17, type by type: every type the server has, synced, updated, verified.

The types come from the server's own catalog (every built-in base type,
range and multirange, not pseudo-types; an array of each that has one), plus
an enum, composites, domains, a user range and the hstore, citext and ltree
extensions where the server ships them. They go into one table per family
(pg_type.typcategory), split by the path pre-flight gives each column, with
values at the edges. For each table: a first load, an update of every row
through the incremental path (each value becomes another), a hard delete
found and repaired by ``--verify --keys``, ``--verify`` clean, and a value
altered in analytics found by ``--verify``. A type PostgreSQL builds only
itself is refused before writing. One line per family says how its types
fared, and docs/types.md is the table this test finds (it fails when the
page says otherwise; TABLESYNC_WRITE_TYPES_DOC=1 rewrites it).
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import types_doc
from dbtools import TestDatabases
from opstools import JOB, databases
from synctools import definition, sync
from type_samples import (
    EXTENSION_SAMPLES,
    NO_VALUES,
    SAMPLES,
    TYPMOD_SAMPLES,
    USER_SAMPLES,
    USER_TYPES,
    WITH_TYPMOD,
)

from services.base.errors import EXIT_CONFIGURATION, PreflightError
from services.operations.repairs import Repair
from services.operations.verify import verify
from services.operations.verify_keys import verify_keys
from services.store.preflight import plan_definition
from services.store.type_paths import has_equality

DOC = Path(__file__).resolve().parent.parent / "docs" / "types.md"
FAMILIES = {
    "A": "vector",
    "B": "boolean",
    "D": "date/time",
    "G": "geometric",
    "I": "network",
    "N": "numeric",
    "R": "range",
    "S": "string",
    "T": "timespan",
    "U": "other built-in",
    "V": "bit string",
    "Z": "internal",
}
# Every built-in type a column can have: base types, ranges, multiranges (not pseudo-types,
# not arrays, which come as arrays of their element), with whether it has an array type.
CATALOG_SQL = """
SELECT t.typname::text, t.typcategory::text, t.typarray <> 0
FROM pg_type t
WHERE t.typnamespace = 'pg_catalog'::regnamespace AND t.typtype IN ('b', 'r', 'm')
  AND t.typisdefined AND NOT EXISTS (SELECT FROM pg_type e WHERE e.typarray = t.oid)
ORDER BY t.typname
"""


@dataclass
class Result:
    """What the matrix found for one column type."""

    type_name: str
    family: str
    path: str = ""
    equality: bool = False
    outcome: str = "failed"  # exact, refused or failed
    why: list[str] = field(default_factory=list)


_OPEN: dict[str, psycopg.Connection[Any]] = {}


def _conn(url: str) -> psycopg.Connection[Any]:
    """One autocommit connection per database for the whole matrix."""
    if url not in _OPEN or _OPEN[url].closed:
        _OPEN[url] = psycopg.connect(url, autocommit=True)
    return _OPEN[url]


def _core(dbs: TestDatabases) -> psycopg.Connection[Any]:
    return _conn(dbs.core_url)


def _analytics(dbs: TestDatabases) -> psycopg.Connection[Any]:
    return _conn(dbs.analytics_url)


def _run(conn: psycopg.Connection[Any], text: str) -> list[Any]:
    cur = conn.execute(text.encode())
    return cur.fetchall() if cur.description is not None else []


def _both(dbs: TestDatabases, text: str) -> None:
    for conn in (_core(dbs), _analytics(dbs)):
        _run(conn, text)


def _extensions(dbs: TestDatabases) -> dict[str, bool]:
    """Which of hstore, citext and ltree this server ships (created on both sides)."""
    available = {r[0] for r in _run(_core(dbs), "SELECT name FROM pg_available_extensions")}
    shipped = {name: name in available for name in EXTENSION_SAMPLES}
    for name in EXTENSION_SAMPLES:
        if shipped[name]:
            _both(dbs, f"CREATE EXTENSION IF NOT EXISTS {name}")
    return shipped


def _xml_supported(dbs: TestDatabases) -> bool:
    try:
        _run(_core(dbs), "SELECT '<a/>'::xml")
    except psycopg.errors.FeatureNotSupported:
        return False
    return True


@dataclass
class Family:
    """One family's columns: (column type, its values)."""

    name: str
    columns: list[tuple[str, list[str]]]


def _families(dbs: TestDatabases, shipped: dict[str, bool], xml: bool) -> list[Family]:
    catalog = _run(_core(dbs), CATALOG_SQL)
    missing = [t for t, _, _ in catalog if t not in SAMPLES and t not in NO_VALUES]
    assert not missing, f"types of this server with no sample values: {missing}"
    columns: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for name, category, has_array in catalog:
        if name in NO_VALUES:
            continue
        values = SAMPLES[name] if xml or name != "xml" else []
        columns[FAMILIES[category]].append((name, values))
        if has_array:
            columns["array"].append((f"{name}[]", values))
    columns["typmod"] = [(t, TYPMOD_SAMPLES[t]) for t in WITH_TYPMOD]
    columns["array"] += [(f"{t}[]", TYPMOD_SAMPLES[t]) for t in WITH_TYPMOD]
    for name, (family, values) in USER_SAMPLES.items():
        columns[family].append((name, values))
        columns["array of user types"].append((f"{name}[]", values))
    for name, (family, values) in EXTENSION_SAMPLES.items():
        if shipped[name]:
            columns[family] += [(name, values), (f"{name}[]", values)]
    return [Family(name, cols) for name, cols in columns.items()]


def _value(column_type: str, values: list[str], row: int) -> str:
    """Row ``row``'s value: each sample in turn; for an array the samples in one array, an
    empty one, a two-dimensional one, an array of NULL; the last row NULL everywhere."""
    if not values:
        return "NULL"
    if not column_type.endswith("[]"):
        return f"CAST({values[row % len(values)]} AS {column_type})"
    element = column_type.removesuffix("[]")
    # Built as text[] and cast element by element: ARRAY[] of int2vector (itself an
    # array to the parser) would nest.
    items = [f"CAST(CAST({v} AS {element}) AS text)" for v in values]
    shapes = [
        f"CAST(ARRAY[{', '.join(items[:1] + ['NULL'] + items[1:])}] AS {column_type})",
        f"'{{}}'::{column_type}",
        f"CAST(ARRAY[ARRAY[{items[-1]}], ARRAY[{items[0]}]] AS {column_type})",
        f"CAST(ARRAY[NULL] AS {column_type})",
    ]
    return shapes[row % len(shapes)]


def _rows(family: Family) -> int:
    return max(4, *(len(v) for _, v in family.columns)) + 1


def _create(dbs: TestDatabases, table: str, columns: list[tuple[str, list[str]]]) -> None:
    cols = ", ".join(f"c{i} {t}" for i, (t, _) in enumerate(columns))
    _both(dbs, f"CREATE TABLE {table} (id int PRIMARY KEY, at int NOT NULL, {cols})")


def _fill(dbs: TestDatabases, table: str, family: Family, shift: int) -> None:
    """Insert (shift 0) or update every row: each column gets its next value."""
    rows = _rows(family)
    core = _core(dbs)
    for row in range(rows):
        last = row == rows - 1
        values = ["NULL" if last else _value(t, v, row + shift) for t, v in family.columns]
        if shift == 0:
            _run(core, f"INSERT INTO {table} VALUES ({row}, {row}, {', '.join(values)})")
        else:
            sets = ", ".join(f"c{i} = {v}" for i, v in enumerate(values))
            _run(core, f"UPDATE {table} SET at = at + 100, {sets} WHERE id = {row}")


def _as_text(conn: psycopg.Connection[Any], table: str, width: int) -> list[tuple[Any, ...]]:
    cols = ", ".join(f"c{i}::text" for i in range(width))
    return [tuple(r) for r in _run(conn, f"SELECT id, {cols} FROM {table} ORDER BY id")]


def _differing_columns(dbs: TestDatabases, table: str, width: int) -> set[int]:
    core, analytics = _as_text(_core(dbs), table, width), _as_text(_analytics(dbs), table, width)
    if len(core) != len(analytics):
        return set(range(width))
    pairs = zip(core, analytics, strict=True)
    return {i for a, b in pairs for i in range(width) if a[i + 1] != b[i + 1]}


def _paths(dbs: TestDatabases, table: str) -> dict[str, tuple[str, bool]]:
    """Per column: the path pre-flight chose and whether its type has = in the catalog."""
    with psycopg.connect(dbs.core_url) as core, psycopg.connect(dbs.analytics_url) as analytics:
        plan = plan_definition(JOB, table, definition(table, "at"), core=core, analytics=analytics)
    return {p.column: (str(p.path), has_equality(p.destination)) for p in plan.paths}


class Matrix:
    """Runs one family through load, update, hard delete, verify, and records each type."""

    def __init__(self, dbs: TestDatabases):
        self.dbs = dbs
        self.results: list[Result] = []

    def family(self, family: Family) -> None:
        table = "m_" + "".join(c if c.isalnum() else "_" for c in family.name)
        _create(self.dbs, table, family.columns)
        paths = _paths(self.dbs, table)
        by_path: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
        for i, column in enumerate(family.columns):
            by_path[paths[f"c{i}"][0]].append(column)
        _both(self.dbs, f"DROP TABLE {table}")
        for path, columns in by_path.items():
            part = Family(family.name, columns)
            results = [
                Result(t, family.name, path, paths[f"c{family.columns.index((t, v))}"][1])
                for t, v in columns
            ]
            self.check_equality(part, results)
            try:
                self._run_table(f"{table}_{path}", part, results)
            except Exception as exc:  # every family still runs; the test fails at the end
                for result in results:
                    result.outcome, result.why = "failed", [f"{type(exc).__name__}: {exc}"]
            self.results += results

    def check_equality(self, family: Family, results: list[Result]) -> None:
        """The catalog's word on "=" against the server's: does ``v = v`` evaluate?"""
        for (type_name, values), result in zip(family.columns, results, strict=True):
            if not values:
                continue
            value = _value(type_name, values, 0)
            try:
                _run(_core(self.dbs), f"SELECT {value} = {value}")
                evaluates = True
            except (psycopg.errors.UndefinedFunction, psycopg.errors.FeatureNotSupported):
                evaluates = False
            if evaluates != result.equality:
                result.why.append(f"the catalog says = {result.equality}, the server {evaluates}")

    def _run_table(self, table: str, family: Family, results: list[Result]) -> None:
        dbs, width = self.dbs, len(family.columns)
        _create(dbs, table, family.columns)
        _fill(dbs, table, family, 0)
        export = definition(table, "at")
        first = sync(dbs, export, table)
        assert first.counts.created == _rows(family)
        wrong = {i: ["first load"] for i in _differing_columns(dbs, table, width)}
        _fill(dbs, table, family, 1)
        second = sync(dbs, export, table)
        assert second.counts.updated + second.counts.skipped == _rows(family)
        for i in _differing_columns(dbs, table, width):
            wrong.setdefault(i, []).append("incremental update")
        with databases(dbs) as pools:
            clean = verify(pools, JOB, table, export)
            self._hard_delete(pools, table, export)
            caught = self._altered(pools, table, export)
        for i, result in enumerate(results):
            result.why += wrong.get(i, []) + ([] if not clean.differs else ["verify"])
            result.why += [] if caught else ["verify missed an altered value"]
            result.outcome = "failed" if result.why else "exact"

    def _hard_delete(self, pools: Any, table: str, export: Any) -> None:
        _run(_core(self.dbs), f"DELETE FROM {table} WHERE id = 0")
        found = verify_keys(pools, JOB, table, export)
        assert found.extra == 1, found.lines()
        repair = Repair(keys=True, yes=True, command="test")
        verify_keys(pools, JOB, table, export, repair=repair)
        assert _run(_analytics(self.dbs), f"SELECT count(*) FROM {table} WHERE id = 0") == [(0,)]

    def _altered(self, pools: Any, table: str, export: Any) -> bool:
        _run(_analytics(self.dbs), f"UPDATE {table} SET c0 = NULL WHERE id = 1")
        report = verify(pools, JOB, table, export)
        return report.counts["differing"] == 1


def _refused(dbs: TestDatabases, type_name: str) -> Result:
    table = f"refused_{type_name}"
    _both(dbs, f"CREATE TABLE {table} (id int PRIMARY KEY, at int NOT NULL, c0 {type_name})")
    _run(_core(dbs), f"INSERT INTO {table} VALUES (1, 1, NULL)")
    result = Result(type_name, "internal", "refused")
    try:
        sync(dbs, definition(table, "at"), table)
    except PreflightError as refused:
        written = _run(_analytics(dbs), f"SELECT count(*) FROM {table}")
        if refused.exit_code == EXIT_CONFIGURATION and written == [(0,)]:
            result.outcome = "refused"
            return result
    result.why = ["not refused before writing"]
    return result


def _lines(results: list[Result]) -> Iterator[str]:
    families: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        families[r.family][r.outcome] += 1
    for name, counts in sorted(families.items()):
        exact, refused, failed = counts["exact"], counts["refused"], counts["failed"]
        yield f"{name}: {exact} exact, {refused} refused, {failed} failed"


@pytest.mark.usefixtures("failures_in_tmp")
def test_every_type_loads_updates_and_verifies(
    dbs: TestDatabases, capsys: pytest.CaptureFixture[str]
) -> None:
    _both(dbs, USER_TYPES)
    shipped, xml = _extensions(dbs), _xml_supported(dbs)
    matrix = Matrix(dbs)
    for family in _families(dbs, shipped, xml):
        matrix.family(family)
    catalog = {r[0] for r in _run(_core(dbs), CATALOG_SQL)}
    matrix.results += [_refused(dbs, t) for t in sorted(NO_VALUES & catalog)]
    with capsys.disabled():
        print()
        for line in _lines(matrix.results):
            print(f"types: {line}")
        ran = [f"{k}: {'ran' if v else 'not shipped by this server'}" for k, v in shipped.items()]
        print(f"types: extensions {', '.join(ran)}")
        print(f"types: xml {'with values' if xml else 'NULL only: this server has no libxml'}")
    for conn in _OPEN.values():
        conn.close()
    failed = [(r.type_name, r.why) for r in matrix.results if r.outcome == "failed"]
    assert not failed, "\n".join(f"{t}: {why}" for t, why in failed)
    if os.environ.get("TABLESYNC_WRITE_TYPES_DOC"):
        DOC.write_text(types_doc.render(DOC.read_text(), matrix.results))
    not_run = {name for name, ran in shipped.items() if not ran}
    wrong = types_doc.differences(DOC.read_text(), matrix.results, not_run)
    assert not wrong, f"docs/types.md (TABLESYNC_WRITE_TYPES_DOC=1 rewrites it): {wrong}"
