"""What the PostgreSQL catalogs say about a table: columns, their types' shapes, unique keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from services.store.type_shapes import TypeShape, read_shapes

TIMESTAMP_TYPES = {"timestamp with time zone", "timestamp without time zone", "date"}


@dataclass(frozen=True)
class Column:
    """One column of a table as the catalog describes it."""

    name: str
    type_name: str  # format_type(): valid SQL, with typmod, quoted where needed
    type_oid: int
    not_null: bool
    generated: bool
    shape: TypeShape  # what the type is made of (services/store/type_shapes.py)

    @property
    def base_type(self) -> str:
        return self.type_name.split("(")[0].removesuffix("[]").strip()

    @property
    def is_timestamp(self) -> bool:
        return self.base_type in TIMESTAMP_TYPES


@dataclass(frozen=True)
class Table:
    """A table (or view, for sources) with its columns in order and unique keys."""

    schema: str
    name: str
    kind: str
    columns: dict[str, Column]
    unique_keys: list[frozenset[str]]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


# One round trip for any number of tables: each one's columns in order, every row also
# carrying its table's place in the request, kind and unique keys (a json list of
# column-name lists, computed once per table).
_TABLES_SQL = """
WITH wanted AS (
    SELECT w.schema_name, w.table_name, w.place
    FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS w(schema_name, table_name, place)
), t AS (
    SELECT w.place, c.oid, c.relkind
    FROM wanted w
    JOIN pg_namespace n ON n.nspname = w.schema_name
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.table_name
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
), keys AS (
    SELECT t.place, coalesce(json_agg(k.cols) FILTER (WHERE k.cols IS NOT NULL), '[]'::json)
           AS keys
    FROM t
    LEFT JOIN LATERAL (
        SELECT array_agg(a.attname::text ORDER BY k.ord) AS cols
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = t.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
          AND i.indexprs IS NULL
        GROUP BY i.indexrelid
    ) k ON true
    GROUP BY t.place
)
SELECT t.place, t.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid::int,
       a.attnotnull, a.attgenerated <> '', keys.keys, a.atttypmod
FROM t
JOIN keys USING (place)
LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY t.place, a.attnum
"""

TableName = tuple[str, str]  # (schema, name)


def find_table(conn: psycopg.Connection[Any], schema: str, name: str) -> Table | None:
    """The table ``schema.name`` as the catalog has it, or None when it does not exist."""
    return find_tables(conn, [(schema, name)])[(schema, name)]


def find_tables(
    conn: psycopg.Connection[Any], names: Sequence[TableName]
) -> dict[TableName, Table | None]:
    """Each of ``names`` as the catalog has it (None when it does not exist), in the same
    round trips whatever their number: pages that show many definitions read them at once."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    schemas, tables = [w[0] for w in wanted], [w[1] for w in wanted]
    rows = conn.execute(_TABLES_SQL, (schemas, tables)).fetchall()
    found = [r for r in rows if r[2] is not None]
    shapes = read_shapes(conn, list(dict.fromkeys((r[4], r[8]) for r in found)))
    by_place: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_place.setdefault(row[0], []).append(row)
    return {
        name: _table(name, by_place[place], shapes) if place in by_place else None
        for place, name in enumerate(wanted, 1)
    }


def _table(
    name: TableName, rows: list[tuple[Any, ...]], shapes: dict[tuple[int, int], TypeShape]
) -> Table:
    kind, keys = rows[0][1], rows[0][7]
    columns = {
        r[2]: Column(
            name=r[2],
            type_name=r[3],
            type_oid=r[4],
            not_null=r[5],
            generated=r[6],
            shape=shapes[(r[4], r[8])],
        )
        for r in rows
        if r[2] is not None
    }
    unique_keys = [frozenset(k) for k in keys]
    return Table(schema=name[0], name=name[1], kind=kind, columns=columns, unique_keys=unique_keys)


def relation_exists(conn: psycopg.Connection[Any], schema: str, name: str) -> bool:
    """Whether ``schema.name`` names a table or view."""
    row = conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL", (schema, name)
    ).fetchone()
    return bool(row and row[0])
