"""The SQL of deletes in a run: soft-deleted rows and a transform's ``Delete``.

A staging table whose rows may delete their key has a DELETED column. The
batch's last row per key decides (rule: the later row in cursor order
wins): keys whose last row deletes are deleted from the destination, the
others upserted. Rows copied straight into an empty destination leave the
flagged ones out, and their keys are deleted by value.
"""

from __future__ import annotations

from psycopg import sql

from services.store.plan import SyncPlan
from services.store.sql import (
    DELETED,
    STAGING_TABLE,
    Window,
    column_list,
    counted_upsert,
    destination_table,
    distinct_on,
    ident,
    last_first,
    read_only_guard,
    soft_deleted,
    window_predicate,
    window_source,
)


def flagged_keys(
    plan: SyncPlan, window: Window, values: list[sql.Composable] | list[str]
) -> sql.Composed:
    """A key's ``values`` (source columns, or a select's expressions: key_values) of the
    window's soft-deleted rows, as text."""
    flag = soft_deleted(plan)
    assert flag is not None
    parts = [ident(v) if isinstance(v, str) else v for v in values]
    texts = sql.SQL(", ").join(sql.SQL("({})::text").format(v) for v in parts)
    guard = [read_only_guard()] if plan.user_sql else []
    return sql.SQL("SELECT {} FROM {} WHERE {}").format(
        texts,
        window_source(plan, window),
        sql.SQL(" AND ").join([window_predicate(plan, window), *guard, flag]),
    )


def count_flagged(plan: SyncPlan, window: Window) -> sql.Composed:
    """How many of the window's rows are soft-deleted: what a run could delete, at most."""
    flag = soft_deleted(plan)
    assert flag is not None
    return sql.SQL("SELECT count(*) FROM {} WHERE {} AND {}").format(
        window_source(plan, window), window_predicate(plan, window), flag
    )


def last_per_key(plan: SyncPlan, columns: list[str], *, distinct: bool) -> sql.Composable:
    """The staged rows as the batch leaves them, with DELETED: the last row per key."""
    if not distinct:
        return ident(STAGING_TABLE)
    return sql.SQL("(SELECT {}{}, {} FROM {}{})").format(
        distinct_on(plan.keys),
        column_list(columns),
        ident(DELETED),
        ident(STAGING_TABLE),
        last_first(plan.keys),
    )


def delete_staged(plan: SyncPlan, *, distinct: bool = True) -> sql.Composed:
    """Delete from the destination the keys whose last staged row deletes; the statement's
    rowcount is the rows deleted (a key analytics does not hold deletes nothing)."""
    rows = last_per_key(plan, plan.keys, distinct=distinct)
    same = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(ident("d", k), ident("s", k)) for k in plan.keys
    )
    return sql.SQL("DELETE FROM {} AS d USING {} AS s WHERE s.{} AND {}").format(
        destination_table(plan), rows, ident(DELETED), same
    )


def _key_values(plan: SyncPlan) -> tuple[sql.Composable, sql.Composable]:
    """``unnest(CAST(%s AS type[]), ...) AS c(c0, ...)`` (one array per conflict column,
    cast to the destination's types) and its match with the destination's row ``d``."""
    arrays = sql.SQL(", ").join(
        sql.SQL("CAST(%s AS {}[])").format(sql.SQL(plan.destination.columns[k].type_name))
        for k in plan.keys
    )
    names = [f"c{i}" for i in range(len(plan.keys))]
    same = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(ident("d", k), ident("c", n))
        for k, n in zip(plan.keys, names, strict=True)
    )
    return sql.SQL("unnest({}) AS c({})").format(arrays, column_list(names)), same


def delete_keys(plan: SyncPlan) -> sql.Composed:
    """Delete the keys given as one array per conflict column (straight-in batches)."""
    values, same = _key_values(plan)
    return sql.SQL("DELETE FROM {} AS d USING {} WHERE {}").format(
        destination_table(plan), values, same
    )


def count_held(plan: SyncPlan) -> sql.Composed:
    """How many of the keys given as arrays (as delete_keys takes them) analytics holds."""
    values, same = _key_values(plan)
    return sql.SQL("SELECT count(*) FROM {} AS d JOIN {} ON {}").format(
        destination_table(plan), values, same
    )


def upsert_kept(plan: SyncPlan, columns: list[str], *, distinct: bool = True) -> sql.Composed:
    """The upsert of the keys whose last staged row does not delete: (created, updated)."""
    return counted_upsert(plan, columns, kept_rows(plan, columns, distinct=distinct))


def kept_rows(plan: SyncPlan, columns: list[str], *, distinct: bool = True) -> sql.Composed:
    """``columns`` of the keys whose last staged row does not delete (also a verify's
    expected rows)."""
    return sql.SQL(" SELECT {} FROM {} AS s WHERE NOT s.{}").format(
        column_list(columns, "s"), last_per_key(plan, columns, distinct=distinct), ident(DELETED)
    )
