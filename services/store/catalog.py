"""What the PostgreSQL catalogs say about a table: columns, their types' shapes, unique keys."""

from __future__ import annotations

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


# One round trip per table: its columns in order, each row also carrying the
# table's unique keys (a json list of column-name lists, computed once).
_TABLE_SQL = """
WITH t AS (
    SELECT c.oid, c.relkind
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
), keys AS (
    SELECT coalesce(json_agg(k.cols), '[]'::json) AS keys
    FROM (
        SELECT array_agg(a.attname::text ORDER BY k.ord) AS cols
        FROM t
        JOIN pg_index i ON i.indrelid = t.oid
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
        GROUP BY i.indexrelid
    ) k
)
SELECT t.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid::int,
       a.attnotnull, a.attgenerated <> '', keys.keys, a.atttypmod
FROM t
CROSS JOIN keys
LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def find_table(conn: psycopg.Connection[Any], schema: str, name: str) -> Table | None:
    """The table ``schema.name`` as the catalog has it, or None when it does not exist."""
    rows = conn.execute(_TABLE_SQL, (schema, name)).fetchall()
    if not rows:
        return None
    kind, keys = rows[0][0], rows[0][6]
    found = [r for r in rows if r[1] is not None]
    shapes = read_shapes(conn, [(r[3], r[7]) for r in found])
    columns = {
        r[1]: Column(
            name=r[1],
            type_name=r[2],
            type_oid=r[3],
            not_null=r[4],
            generated=r[5],
            shape=shapes[(r[3], r[7])],
        )
        for r in found
    }
    unique_keys = [frozenset(k) for k in keys]
    return Table(schema=schema, name=name, kind=kind, columns=columns, unique_keys=unique_keys)


def relation_exists(conn: psycopg.Connection[Any], schema: str, name: str) -> bool:
    """Whether ``schema.name`` names a table or view."""
    row = conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL", (schema, name)
    ).fetchone()
    return bool(row and row[0])
