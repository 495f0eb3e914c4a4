"""What a column's type is made of, read from the catalog: its shape, all the way down.

A type's name says little (two databases may both have a ``public.year``, one
a domain over integer, the other over date); its shape says what its values
are: a base type with its typmod, an enum's labels in order, a domain's base
type, an array's element, a composite's fields, a range's subtype, a
multirange's range. services/store/type_paths.py decides from two shapes how
values may travel between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

# Types whose input and receive functions always raise: PostgreSQL builds their values
# only internally (planner statistics, BRIN summaries, stored expression trees, GiST
# keys), so no value read from core could ever be written into analytics.
NO_INPUT_FUNCTIONS = frozenset(
    {
        "pg_node_tree_in",
        "pg_ndistinct_in",
        "pg_dependencies_in",
        "pg_mcv_list_in",
        "brin_bloom_summary_in",
        "brin_minmax_multi_summary_in",
        "gtsvectorin",
    }
)

# Types whose receive function refuses values their send function makes (an empty
# tsquery is sent as zero operands, which tsqueryrecv rejects; an empty int2vector or
# oidvector as zero dimensions, which their receive functions reject): their values go
# as text, which takes every one.
INCOMPLETE_BINARY_FORMS = frozenset({"tsquery", "int2vector", "oidvector"})


@dataclass(frozen=True)
class TypeShape:
    """One type at one place in a column's type: its kind and what it is made of.

    ``parts`` are the named parts of a composite (its fields), or the one unnamed part
    of an array (element), a domain (base type), a range (subtype) or a multirange
    (range).
    """

    oid: int
    name: str  # format_type() of the type with its typmod here, as SQL writes it
    kind: str  # base, enum, domain, array, composite, range, multirange
    base: str  # a base type's name (pg_type.typname, schema left out), else ""
    typmod: int
    labels: tuple[str, ...] = ()
    parts: tuple[tuple[str, TypeShape], ...] = ()
    binary_io: bool = True  # the type has send and receive functions
    # A base type's equality: an = operator (what the parser takes), a default btree or
    # hash operator class (what arrays and composites take for their elements).
    equality_operator: bool = True
    equality_opclass: bool = True
    accepts_input: bool = True  # its input function can take a value (NO_INPUT_FUNCTIONS)
    catalog_reference: bool = False  # a reg* type: the OID of an object of core's catalog
    delimiter: str = ","

    @property
    def part(self) -> TypeShape:
        """The one part of an array, domain, range or multirange."""
        return self.parts[0][1]

    def walk(self) -> list[TypeShape]:
        """This type and every type it is made of, depth first."""
        found = [self]
        for _, part in self.parts:
            found += part.walk()
        return found


# Every type reachable from the given ones (domain -> base, array -> element, composite
# -> fields, range -> subtype, multirange -> range), as the CTE ``reach``: shared with
# services/store/type_definitions.py, which reads what creating each one takes.
REACHABLE_TYPES = """
WITH RECURSIVE reach(oid) AS (
    SELECT unnest(%(oids)s::oid[])
  UNION
    SELECT x.child
    FROM reach r
    JOIN pg_type t ON t.oid = r.oid
    CROSS JOIN LATERAL (
        SELECT t.typbasetype WHERE t.typtype = 'd'
        UNION ALL
        SELECT e.oid FROM pg_type e WHERE e.oid = t.typelem AND e.typarray = t.oid
        UNION ALL
        SELECT a.atttypid FROM pg_attribute a
        WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0
          AND NOT a.attisdropped
        UNION ALL
        SELECT g.rngsubtype FROM pg_range g WHERE t.typtype = 'r' AND g.rngtypid = t.oid
        UNION ALL
        SELECT g.rngtypid FROM pg_range g WHERE t.typtype = 'm' AND g.rngmultitypid = t.oid
    ) AS x(child)
)
"""
# Each reachable type with what its shape needs.
_TYPES_SQL = (
    REACHABLE_TYPES
    + """, classed(typ) AS (
    -- the types with a default btree or hash operator class of their own
    SELECT c.opcintype FROM pg_opclass c JOIN pg_am am ON am.oid = c.opcmethod
    WHERE c.opcdefault AND am.amname IN ('btree', 'hash')
)
SELECT t.oid::int, t.typname::text, t.typtype::text, t.typbasetype::int, t.typtypmod,
       e.oid::int AS element,
       (SELECT coalesce(json_agg(json_build_array(a.attname, a.atttypid::int, a.atttypmod)
                                 ORDER BY a.attnum), '[]'::json)
        FROM pg_attribute a
        WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0
          AND NOT a.attisdropped) AS fields,
       (SELECT array_agg(l.enumlabel::text ORDER BY l.enumsortorder)
        FROM pg_enum l WHERE l.enumtypid = t.oid) AS labels,
       (SELECT g.rngsubtype::int FROM pg_range g WHERE g.rngtypid = t.oid) AS subtype,
       (SELECT g.rngtypid::int FROM pg_range g WHERE g.rngmultitypid = t.oid) AS range,
       t.typsend <> 0 AND t.typreceive <> 0 AS binary_io,
       EXISTS (SELECT FROM pg_operator o
               WHERE o.oprname = '=' AND o.oprleft = t.oid AND o.oprright = t.oid)
         AS equality_operator,
       t.oid IN (SELECT typ FROM classed)
       OR EXISTS (SELECT FROM pg_cast k
                  WHERE k.castsource = t.oid AND k.castmethod = 'b' AND k.castcontext = 'i'
                    AND k.casttarget IN (SELECT typ FROM classed))
       -- int2vector, oidvector: compared as arrays of their element
       OR (t.typelem <> 0 AND t.typsubscript = 'array_subscript_handler'::regproc
           AND t.typelem IN (SELECT typ FROM classed))
         AS equality_opclass,
       t.typinput::regproc::text AS input,
       n.nspname = 'pg_catalog' AND t.typname::text LIKE 'reg%%' AS catalog_reference,
       t.typdelim::text
FROM reach
JOIN pg_type t ON t.oid = reach.oid
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_type e ON e.oid = t.typelem AND e.typarray = t.oid
"""
)

_NAMES_SQL = "SELECT format_type(o, m) FROM unnest(%s::oid[], %s::int[]) AS x(o, m)"


class _ShapeBuilder:
    """Builds shapes from the catalog rows of every type reachable from the columns'."""

    def __init__(self, conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]):
        self.conn = conn
        self.rows = {r[0]: r for r in rows}
        self.names: dict[tuple[int, int], str] = {}

    def name_all(self, wanted: list[tuple[int, int]]) -> None:
        """format_type() of every (oid, typmod) a shape will carry, in one round trip."""
        pairs = list(dict.fromkeys(wanted))
        oids, mods = [p[0] for p in pairs], [p[1] for p in pairs]
        names = self.conn.execute(_NAMES_SQL, (oids, mods)).fetchall()
        self.names.update({p: n[0] for p, n in zip(pairs, names, strict=True)})

    def places(self, oid: int, typmod: int) -> list[tuple[int, int]]:
        """Every (oid, typmod) met going down from this one."""
        found = [(oid, typmod)]
        for part_oid, part_mod in self._parts(oid, typmod):
            found += self.places(part_oid, part_mod)
        return found

    def _parts(self, oid: int, typmod: int) -> list[tuple[int, int]]:
        row = self.rows[oid]
        if row[2] == "d":
            return [(row[3], row[4])]
        if row[5] is not None:
            return [(row[5], typmod)]  # an array's typmod is its element's
        if row[2] == "c":
            return [(f[1], f[2]) for f in row[6]]
        if row[2] == "r":
            return [(row[8], -1)]
        if row[2] == "m":
            return [(row[9], -1)]
        return []

    def shape(self, oid: int, typmod: int) -> TypeShape:
        row = self.rows[oid]
        kind = _kind(row)
        parts = self._parts(oid, typmod)
        names = [f[0] for f in row[6]] if kind == "composite" else [""] * len(parts)
        return TypeShape(
            oid=oid,
            name=self.names[(oid, typmod)],
            kind=kind,
            base=row[1] if kind == "base" else "",
            typmod=typmod,
            labels=tuple(row[7] or ()),
            parts=tuple((n, self.shape(o, m)) for n, (o, m) in zip(names, parts, strict=True)),
            binary_io=row[10] and row[1] not in INCOMPLETE_BINARY_FORMS,
            equality_operator=row[11],
            equality_opclass=row[12],
            accepts_input=row[13] not in NO_INPUT_FUNCTIONS,
            catalog_reference=row[14],
            delimiter=row[15],
        )


def _kind(row: tuple[Any, ...]) -> str:
    if row[5] is not None:
        return "array"
    kinds = {"d": "domain", "e": "enum", "c": "composite", "r": "range", "m": "multirange"}
    return kinds.get(row[2], "base")


def read_shapes(
    conn: psycopg.Connection[Any], types: list[tuple[int, int]]
) -> dict[tuple[int, int], TypeShape]:
    """The shape of each (type oid, typmod), in two round trips whatever their number."""
    if not types:
        return {}
    with conn.transaction():
        # The planner guesses a recursive CTE a thousand times its size: on a server with
        # JIT (PostgreSQL 15 from Debian), the query was compiled, 5-10 s for 300 types.
        conn.execute("SET LOCAL jit = off")
        rows = conn.execute(_TYPES_SQL, {"oids": [t[0] for t in types]}).fetchall()
    builder = _ShapeBuilder(conn, rows)
    builder.name_all([p for t in types for p in builder.places(*t)])
    return {t: builder.shape(*t) for t in types}
