"""``scaffold TABLE...``: the migration that creates destination tables like core's, and the
DEFINITIONS entries that sync them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.base import ConfigurationError
from services.scaffold._cursor import choose_cursor
from services.scaffold._ddl import (
    create_schemas,
    create_table,
    create_type,
    drop_type,
    types_to_create,
)
from services.scaffold._migration import Migration, slug_of
from services.scaffold._tables import TableShape, read_table, resolve_names
from services.store import find_types, read_types


@dataclass(frozen=True)
class ScaffoldRequest:
    """What the user asked scaffold for."""

    tables: list[str]  # as typed: orders, sales.orders, sales.*
    dest_schema: str
    cursors: dict[str | None, str]  # table name (None: every table) -> cursor column


@dataclass(frozen=True)
class DefinitionEntry:
    """One definition to paste into config.py, and what its table lacks in core."""

    name: str
    table: TableShape
    cursor: str
    dest_schema: str

    @property
    def id_field(self) -> str | list[str] | None:
        """The primary key's columns besides the cursor: with it, they make a row unique."""
        key = [c for c in self.table.primary_key if c != self.cursor]
        return None if not key else key[0] if len(key) == 1 else key

    def text(self) -> str:
        """The entry as Python, laid out as ``ruff format`` leaves it inside DEFINITIONS'
        dict in config.py (its keys 8 spaces in), so a pasted config stays formatted."""
        cursor: dict[str, Any] = {"field": self.cursor}
        if self.id_field is not None:
            cursor["id_field"] = self.id_field
        parts: dict[str, dict[str, Any]] = {
            "source": {"schema": self.table.schema, "table": self.table.name, "cursor": cursor},
            "destination": {
                "schema": self.dest_schema,
                "table": self.table.name,
                "conflict_columns": list(self.table.primary_key),
            },
        }
        lines = [f"        {_py(self.name)}: {{"]
        for part, fields in parts.items():
            lines.append(f"            {_py(part)}: {{")
            lines += [f"                {_py(k)}: {_py(v)}," for k, v in fields.items()]
            lines.append("            },")
        return "\n".join([*lines, "        },"])

    def warnings(self, conn: psycopg.Connection[Any]) -> list[str]:
        """What the user should know before the first run: a nullable cursor, a missing index
        (with the statement that makes it, rendered for ``conn``'s server)."""
        found: list[str] = []
        column = self.table.column(self.cursor)
        if column is not None and not column.not_null:
            found.append(
                f"{self.name}: core's {self.table.qualified}.{self.cursor} allows NULL; rows"
                " where it is NULL are not synced"
            )
        order = self.read_order
        if not any(index[: len(order)] == order for index in self.table.indexes):
            found.append(
                f"{self.name}: core has no index on {self.table.qualified}"
                f" ({', '.join(order)}), the order every run reads in; ask the application's"
                f" team for:\n    {self.index_statement().as_string(conn)}"
            )
        return found

    @property
    def read_order(self) -> tuple[str, ...]:
        """The columns every run reads in order of: the cursor, then the key's others."""
        return tuple(dict.fromkeys((self.cursor, *self.table.primary_key)))

    def index_statement(self) -> sql.Composed:
        """The index that serves this definition's reads, for core's owners to create."""
        order = self.read_order
        # A partitioned table's index cannot be built concurrently (its partitions' can).
        keyword = "CREATE INDEX" if self.table.partitioned else "CREATE INDEX CONCURRENTLY"
        return sql.SQL("{} ON {} ({});").format(
            sql.SQL(keyword),
            sql.Identifier(self.table.schema, self.table.name),
            sql.SQL(", ").join(sql.Identifier(c) for c in order),
        )


def _py(value: Any) -> str:
    # JSON's strings, lists and dicts are Python's too, in the house's double quotes.
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Scaffold:
    """A scaffold's result: the migration and the entries to paste."""

    migration: Migration | None  # None when every table found has its destination
    entries: list[DefinitionEntry]
    tables: int
    types: int
    skipped: list[str]  # destinations analytics has of tables a `*` found


def _shapes(
    core: psycopg.Connection[Any], request: ScaffoldRequest, wanted: list[tuple[str, str]]
) -> list[TableShape]:
    shapes: list[TableShape] = []
    problems: list[str] = []
    for schema, name in wanted:
        shape = read_table(core, schema, name)
        assert shape is not None
        if not shape.primary_key:
            problems.append(
                f"core table {shape.qualified} has no primary key: the destination's key and the"
                " definition's conflict_columns come from it; add one in core, or write this"
                " table's migration by hand"
            )
        shapes.append(shape)
    names = [s.name for s in shapes]
    problems += [
        f"two tables named {n!r} ({', '.join(s.qualified for s in shapes if s.name == n)}) would"
        f" both be {request.dest_schema}.{n}: scaffold them apart, with --dest-schema"
        for n in dict.fromkeys(n for n in names if names.count(n) > 1)
    ]
    if problems:
        raise ConfigurationError("; ".join(problems), problems=problems)
    return shapes


def _cursor_for(table: TableShape, cursors: dict[str | None, str]) -> str:
    return choose_cursor(table, cursors.get(table.name, cursors.get(None)))


def _not_in_analytics(
    analytics: psycopg.Connection[Any], schema: str, resolved: dict[tuple[str, str], bool]
) -> tuple[list[tuple[str, str]], list[str]]:
    """The tables whose destination analytics lacks, and the destinations it has of tables a
    ``*`` found (core gained tables since the others were scaffolded: those are left out).
    A table named whose destination exists is for ``--alter``: ConfigurationError."""
    wanted: list[tuple[str, str]] = []
    skipped: list[str] = []
    problems: list[str] = []
    for (source_schema, name), named in resolved.items():
        if read_table(analytics, schema, name) is None:
            wanted.append((source_schema, name))
        elif named:
            problems.append(
                f"analytics already has {schema}.{name}: `python run_job.py scaffold --alter"
                " DEFINITION` adds the columns core gained to a synced table"
            )
        else:
            skipped.append(f"{schema}.{name}")
    if problems:
        raise ConfigurationError("; ".join(problems), problems=problems)
    return wanted, skipped


def scaffold_tables(
    core: psycopg.Connection[Any], analytics: psycopg.Connection[Any], request: ScaffoldRequest
) -> Scaffold:
    """The migration creating each requested table in analytics as core has it, and the
    entries that sync them; ConfigurationError lists what stands in the way."""
    resolved = resolve_names(core, request.tables)
    named = {name for _, name in resolved}
    unknown = [t for t in request.cursors if t is not None and t not in named]
    if unknown:
        raise ConfigurationError(f"--cursor names a table not scaffolded: {', '.join(unknown)}")
    wanted, skipped = _not_in_analytics(analytics, request.dest_schema, resolved)
    shapes = _shapes(core, request, wanted)
    cursors = {s.name: _cursor_for(s, request.cursors) for s in shapes}
    types = read_types(core, [c.type.oid for s in shapes for c in s.columns])
    present = find_types(analytics, types.by_name())
    creating = types_to_create(types, present)
    tables = [(s, sql.Identifier(request.dest_schema, s.name)) for s in shapes]
    up: list[sql.Composable | str] = [
        *create_schemas([request.dest_schema, *(t.schema for t in creating)]),
        *(create_type(t) for t in creating),
    ]
    for shape, dest in tables:
        kind = "a partitioned table; a plain one here" if shape.partitioned else "a table"
        up += ["", f"-- core's {shape.qualified}, {kind}", create_table(shape, dest, types)]
    down: list[sql.Composable | str] = [
        *(sql.SQL("DROP TABLE {};").format(dest) for _, dest in reversed(tables)),
        *(drop_type(t) for t in reversed(creating)),
    ]
    header = [
        f"-- Made by `python run_job.py scaffold {' '.join(request.tables)}` from core's"
        " catalog: core's column names and types, NOT NULL and primary key; no defaults,"
        " sequences, foreign keys or triggers.",
        "-- Types are made with core's definitions, in core's schemas under core's names.",
    ]
    migration = Migration(
        slug=slug_of(["scaffold", *(t.replace(".*", "") for t in request.tables)]),
        header=header,
        up=up,
        down=down,
    )
    entries = [DefinitionEntry(s.name, s, cursors[s.name], request.dest_schema) for s in shapes]
    return Scaffold(
        migration=migration if shapes else None,
        entries=entries,
        tables=len(shapes),
        types=len(creating),
        skipped=skipped,
    )
