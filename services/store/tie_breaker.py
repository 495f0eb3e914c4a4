"""Contract rule 16: a tie-breaker is trusted only when core's catalog proves it unique.

Batches end after ``batch_size`` rows in ``(cursor, id_field...)`` order and the
next starts strictly after the last one's key. If two rows could share that
key, one of them could fall between two batches and never be read: an update
lost, with a run that says it succeeded. So the id_field columns, with the
cursor column, must cover a unique key of the source: its primary key or a
unique index (not partial, not on expressions, valid). A partitioned table's
own (partitioned) indexes are the parent's keys, which hold across all its
partitions. A view, or a table whose keys the columns do not cover, proves
nothing: the run is refused before anything is written.

Refused rather than run without the tie-breaker: a definition that names an
id_field asks for batches that end exactly at ``batch_size`` rows; quietly
reading every tie of the last row instead (rule 7) would change what the
definition does, and hide a key the user believed was unique.
"""

from __future__ import annotations

import json

from services.base import CursorSpec
from services.store.catalog import Table


def tie_breaker_problem(cursor: CursorSpec, source: Table) -> str | None:
    """Why ``(cursor.field, id_field...)`` is not proven unique on ``source``; None when
    a unique key of core lies within those columns (or there is no tie-breaker)."""
    if not cursor.id_fields:
        return None
    covered = frozenset((cursor.field, *cursor.id_fields))
    if any(key <= covered for key in source.unique_keys):
        return None
    order = ", ".join((cursor.field, *cursor.id_fields))
    head = f"id_field {list(cursor.id_fields)} does not make ({order}) unique: "
    if not source.unique_keys:
        return head + (
            f"core has no primary key or unique index on {source.qualified} to prove it;"
            " add one, or drop id_field (rows tying on the cursor then never straddle"
            " two batches)"
        )
    keys = "; ".join(f"({', '.join(_in_table_order(source, key))})" for key in source.unique_keys)
    return head + (
        f"core's unique keys on {source.qualified} are {keys};"
        f" use id_field: {_suggestion(cursor, source)}"
    )


def _in_table_order(source: Table, key: frozenset[str]) -> list[str]:
    return [name for name in source.columns if name in key]


def _suggestion(cursor: CursorSpec, source: Table) -> str:
    """The id_field of the unique key with the fewest columns besides the cursor."""
    best = min(source.unique_keys, key=lambda key: len(key - {cursor.field}))
    names = [n for n in _in_table_order(source, best) if n != cursor.field]
    return json.dumps(names[0] if len(names) == 1 else names)
