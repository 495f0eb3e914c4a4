"""The tables scaffold is asked for, found in a catalog by exact name: columns with their
types, the primary key in order, and the indexes that could serve a cursor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from services.base import DEFAULT_SOURCE_SCHEMA, ConfigurationError, closest
from services.store import TypeRef


@dataclass(frozen=True)
class TableColumn:
    """One column: its name, its type as the catalog has it, and NOT NULL."""

    name: str
    type: TypeRef
    not_null: bool


@dataclass(frozen=True)
class TableShape:
    """What scaffold copies from a table, and what it reads to choose a cursor."""

    schema: str
    name: str
    partitioned: bool
    columns: tuple[TableColumn, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...]  # each index's plain columns, in order

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> TableColumn | None:
        return next((c for c in self.columns if c.name == name), None)


_RELATION_SQL = """
SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""
_COLUMNS_SQL = """
SELECT attname, atttypid::int, format_type(atttypid, atttypmod), attnotnull
FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum
"""
# Every index's plain columns in order; an index with expressions or a predicate cannot
# serve the read order of a cursor, and the primary key is the one flagged.
_INDEXES_SQL = """
SELECT i.indisprimary, array_agg(a.attname::text ORDER BY k.ord)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %s AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
GROUP BY i.indexrelid, i.indisprimary
ORDER BY i.indexrelid
"""
_TABLES_SQL = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
ORDER BY 1, 2
"""
_KINDS = {"v": "a view", "m": "a materialized view", "f": "a foreign table"}


def read_table(conn: psycopg.Connection[Any], schema: str, name: str) -> TableShape | None:
    """``schema.name`` as its catalog has it, or None when there is no such relation."""
    found = conn.execute(_RELATION_SQL, (schema, name)).fetchone()
    if found is None:
        return None
    oid, kind = found
    columns = tuple(
        TableColumn(name=r[0], type=TypeRef(r[1], r[2]), not_null=r[3])
        for r in conn.execute(_COLUMNS_SQL, (oid,))
    )
    indexes = conn.execute(_INDEXES_SQL, (oid,)).fetchall()
    primary = next((tuple(cols) for is_primary, cols in indexes if is_primary), ())
    if kind in _KINDS:
        raise ConfigurationError(
            f"core's {schema}.{name} is {_KINDS[kind]}, not a table: scaffold copies tables"
        )
    return TableShape(
        schema=schema,
        name=name,
        partitioned=kind == "p",
        columns=columns,
        primary_key=primary,
        indexes=tuple(tuple(cols) for _, cols in indexes),
    )


def core_tables(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(schema, table) of every table of the database, partitions left to their parents."""
    return [(r[0], r[1]) for r in conn.execute(_TABLES_SQL)]


def parse_table_name(text: str) -> tuple[str, str]:
    """``orders`` -> (public, orders); ``sales.orders`` -> (sales, orders): the first dot
    parts the schema from the table, and every name is taken exactly as written."""
    schema, dot, name = text.partition(".")
    return (schema, name) if dot else (DEFAULT_SOURCE_SCHEMA, text)


def resolve_names(conn: psycopg.Connection[Any], wanted: list[str]) -> dict[tuple[str, str], bool]:
    """(schema, table) for each name given, ``schema.*`` as every table of the schema, in
    order, each with whether it was named (not only found by a ``*``); ConfigurationError
    lists every name core does not have, with the closest it has."""
    tables = core_tables(conn)
    resolved: dict[tuple[str, str], bool] = {}
    problems: list[str] = []
    for text in wanted:
        schema, name = parse_table_name(text)
        if name == "*":
            found = [t for t in tables if t[0] == schema]
            resolved.update({t: resolved.get(t, False) for t in found})
            if not found:
                problems.append(_no_schema(schema, tables))
        elif (schema, name) in tables or read_table(conn, schema, name) is not None:
            resolved[(schema, name)] = True
        else:
            problems.append(_no_table(schema, name, tables))
    if problems:
        raise ConfigurationError("; ".join(problems), problems=problems)
    return resolved


def _no_table(schema: str, name: str, tables: list[tuple[str, str]]) -> str:
    same_schema = closest(name, [t for s, t in tables if s == schema])
    anywhere = closest(f"{schema}.{name}", [f"{s}.{t}" for s, t in tables])
    hint = f"{schema}.{same_schema}" if same_schema else anywhere
    if hint is None:
        hint = next((f"{s}.{t}" for s, t in tables if t.casefold() == name.casefold()), None)
    suffix = f"; did you mean {hint}?" if hint else ""
    return f"core has no table {schema}.{name}{suffix}"


def _no_schema(schema: str, tables: list[tuple[str, str]]) -> str:
    hint = closest(schema, [s for s, _ in tables])
    suffix = f"; did you mean {hint}.*?" if hint else ""
    return f"core has no tables in schema {schema}{suffix}"
