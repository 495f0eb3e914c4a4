"""The heaps a backfill reads, from core's catalog: a table's own, or each leaf partition's.

A partitioned table has no heap: its rows live in its leaf partitions
(sub-partitions and the default partition included), each a table with a heap
and ctids of its own. ``pg_partition_tree`` lists them; a table that is not
partitioned is its own one heap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from services.store.sql import Leaf

Conn = psycopg.Connection[Any]

# Each leaf's size in blocks, whether the runner may read it directly and whether row
# security applies to it or to the root (a leaf read directly skips the root's policies
# and applies its own), the planner's rows and pages (for rows per block); largest first,
# so that the biggest heaps are claimed first.
_HEAPS_SQL = """
SELECT c.oid::bigint, n.nspname::text, c.relname::text, c.relkind::text,
       pg_relation_size(c.oid) / current_setting('block_size')::bigint,
       has_table_privilege(c.oid, 'SELECT'), c.relrowsecurity OR root.relrowsecurity,
       greatest(c.reltuples, 0)::float8, c.relpages::bigint
FROM {tree} t
JOIN pg_class c ON c.oid = t.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN (SELECT relrowsecurity FROM pg_class WHERE oid = %(table)s::regclass) root
WHERE t.isleaf
ORDER BY 5 DESC, 2, 3
"""
_LEAVES_SQL = _HEAPS_SQL.format(tree="pg_partition_tree(%(table)s::regclass)")
_OWN_HEAP_SQL = _HEAPS_SQL.format(tree="(SELECT %(table)s::regclass AS relid, true AS isleaf)")
# A leaf as it is now, by oid: its name (it may have been renamed), if still in the tree.
_LEAF_NOW_SQL = """
SELECT n.nspname::text, c.relname::text
FROM pg_partition_tree(%(table)s::regclass) t
JOIN pg_class c ON c.oid = t.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE t.isleaf AND c.oid = %(oid)s
"""


@dataclass(frozen=True)
class Heap:
    """One heap of the source: its own (``leaf`` None) or a leaf partition's."""

    leaf: Leaf | None
    pages: int  # its size in blocks when looked at
    kind: str  # relkind: "r" a table, "f" a foreign table (no heap), ...
    readable: bool  # the runner's role may SELECT from it directly
    row_security: bool  # row-level security is enabled on it or on the source
    tuples: float  # the planner's row count (0 before the first ANALYZE)
    planner_pages: int  # the planner's block count those rows were counted over


@dataclass(frozen=True)
class SourceHeaps:
    """Every heap of a source, and the server's block size in bytes."""

    heaps: list[Heap]
    block_size: int
    partitioned: bool

    @property
    def pages(self) -> int:
        return sum(h.pages for h in self.heaps)

    @property
    def rows_per_block(self) -> float | None:
        """The planner's rows per heap block over every heap; None before an ANALYZE."""
        pages = sum(h.planner_pages for h in self.heaps if h.tuples > 0)
        tuples = sum(h.tuples for h in self.heaps)
        return tuples / pages if pages and tuples else None


def source_heaps(core: Conn, table: str, *, partitioned: bool) -> SourceHeaps:
    """The heaps of ``table`` (a quoted, qualified name): its leaves when ``partitioned``,
    else its own heap (a view has none: an empty list)."""
    query = _LEAVES_SQL if partitioned else _OWN_HEAP_SQL
    rows = core.execute(query, {"table": table}).fetchall()
    size = core.execute("SELECT current_setting('block_size')::bigint").fetchone()
    assert size is not None
    heaps = [
        Heap(
            leaf=Leaf(oid=r[0], schema=r[1], name=r[2]) if partitioned else None,
            pages=int(r[4]),
            kind=r[3],
            readable=bool(r[5]),
            row_security=bool(r[6]),
            tuples=float(r[7]),
            planner_pages=int(r[8]),
        )
        for r in rows
    ]
    return SourceHeaps(heaps=heaps, block_size=int(size[0]), partitioned=partitioned)


def leaf_now(core: Conn, table: str, leaf: Leaf) -> Leaf:
    """``leaf`` as core has it now: under its current name, or not ``attached`` when it
    is no longer a leaf partition of ``table`` (dropped, detached)."""
    row = core.execute(_LEAF_NOW_SQL, {"table": table, "oid": leaf.oid}).fetchone()
    if row is None:
        return Leaf(oid=leaf.oid, schema=leaf.schema, name=leaf.name, attached=False)
    return Leaf(oid=leaf.oid, schema=row[0], name=row[1])
