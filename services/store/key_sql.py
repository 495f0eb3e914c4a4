"""The SQL of ``--verify --keys``: key ranges hashed on each server, and the keys that differ.

A range is ``(lower, upper]`` in the order of the destination's unique index
on its conflict columns; bounds travel as each column's text form and are
cast back to the column's type on each side, so the comparisons are typed.
Core's side reads the source columns the key is copied from (``KeyMap``),
leaving out rows whose soft-delete flag is set: a destination row of theirs is
as extra as one of a deleted row. A row whose cursor is NULL is left out of
the hashes (no run exports it, so a destination without it is clean) but not
out of the keys copied over or looked up (rule 18): core still holds its key,
so a repair must keep the destination's row of it (verify counts those apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.store.plan import SyncPlan
from services.store.sql import (
    column_list,
    destination_table,
    filter_parts,
    ident,
    soft_deleted,
    source_table,
)

CORE_KEYS_TABLE = "tablesync_verify_core_keys"  # core's keys of one range, copied into analytics
EXTRA_TABLE = "tablesync_verify_extra"  # destination keys that core no longer has
EXAMPLES = 5  # keys a report lists of each kind of difference

# Text of each key column of a range's bound; None: the range is open on that side.
Bound = tuple[str, ...] | None


@dataclass(frozen=True)
class KeyMap:
    """The conflict columns in index order and the source column each is copied from."""

    dest: list[str]
    source: list[str]
    dest_types: list[str]
    source_types: list[str]


# Every plain btree index of a table, key columns in order (INCLUDE columns left out).
_INDEXES_SQL = """
SELECT i.indisunique, array_agg(a.attname::text ORDER BY k.ord)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))
  AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts
GROUP BY i.indexrelid, i.indisunique
"""


def btree_indexes(
    conn: psycopg.Connection[Any], schema: str, table: str
) -> list[tuple[bool, list[str]]]:
    """(unique, key columns in order) of each plain btree index of ``schema.table``."""
    return [(bool(u), list(c)) for u, c in conn.execute(_INDEXES_SQL, (schema, table))]


def _row(names: list[str], prefix: str | None = None) -> sql.Composable:
    return (
        sql.SQL("({})").format(column_list(names, prefix))
        if len(names) > 1
        else (ident(prefix, names[0]) if prefix else ident(names[0]))
    )


def _bound(values: tuple[str, ...], types: list[str]) -> sql.Composable:
    cast = [
        sql.SQL("CAST({} AS {})").format(sql.Literal(v), sql.SQL(t))
        for v, t in zip(values, types, strict=True)
    ]
    return cast[0] if len(cast) == 1 else sql.SQL("({})").format(sql.SQL(", ").join(cast))


def range_predicate(
    names: list[str], types: list[str], lower: Bound, upper: Bound, prefix: str | None = None
) -> sql.Composable:
    """Key not NULL, after ``lower`` and at most ``upper`` (either may be open)."""
    parts: list[sql.Composable] = [
        sql.SQL("{} IS NOT NULL").format(ident(prefix, n) if prefix else ident(n)) for n in names
    ]
    key = _row(names, prefix)
    if lower is not None:
        parts.append(sql.SQL("{} > {}").format(key, _bound(lower, types)))
    if upper is not None:
        parts.append(sql.SQL("{} <= {}").format(key, _bound(upper, types)))
    return sql.SQL(" AND ").join(parts)


def _held(plan: SyncPlan, prefix: str | None = None) -> sql.Composable:
    """The source row's key is one core holds for the destination: its soft-delete flag is
    not set. Its cursor may be NULL: a key core holds is never extra (rule 18)."""
    flag = soft_deleted(plan, prefix)
    return sql.SQL("true") if flag is None else sql.SQL("NOT {}").format(flag)


def _exported(plan: SyncPlan) -> sql.Composable:
    """The source row is one a run exports: held, and its cursor (and tie-breaker) not NULL;
    the rows a clean destination holds, so the ones hashed."""
    names = plan.key_names
    parts = [sql.SQL("{} IS NOT NULL").format(ident(n)) for n in names]
    # A row source.where leaves out is not exported, though core holds its key (_held).
    return sql.SQL(" AND ").join([*parts, _held(plan), *filter_parts(plan)])


def _source_where(
    plan: SyncPlan, keys: KeyMap, lower: Bound, upper: Bound, *, held: bool
) -> sql.Composable:
    """A range of source keys: every one core holds (``held``), or only those exported."""
    where = range_predicate(keys.source, keys.source_types, lower, upper)
    return sql.SQL("{} AND {}").format(where, _held(plan) if held else _exported(plan))


def _hash(names: list[str]) -> sql.Composable:
    return sql.SQL("sum(hashtextextended(ROW({})::text, 0)::numeric)").format(column_list(names))


def dest_range(plan: SyncPlan, keys: KeyMap, lower: Bound, size: int | None) -> sql.Composed:
    """The next range of at most ``size`` destination keys after ``lower`` (all: None):
    one row of (count, hash, the range's last key as text per column)."""
    last = sql.SQL(", ").join(sql.SQL("{}::text").format(ident(n)) for n in keys.dest)
    limit = sql.SQL("") if size is None else sql.SQL(" LIMIT {}").format(sql.Literal(size))
    return sql.SQL(
        "WITH r AS MATERIALIZED (SELECT {cols} FROM {dest} WHERE {where} ORDER BY {cols}{limit})"
        " SELECT count(*), {hash}, (SELECT ARRAY[{last}] FROM r ORDER BY {desc} LIMIT 1) FROM r"
    ).format(
        cols=column_list(keys.dest),
        dest=destination_table(plan),
        where=range_predicate(keys.dest, keys.dest_types, lower, None),
        limit=limit,
        hash=_hash(keys.dest),
        last=last,
        desc=sql.SQL(", ").join(sql.SQL("{} DESC").format(ident(n)) for n in keys.dest),
    )


def source_range(plan: SyncPlan, keys: KeyMap, lower: Bound, upper: Bound) -> sql.Composed:
    """(count, hash) of the source keys in ``(lower, upper]``, soft-deleted rows left out."""
    return sql.SQL("SELECT count(*), {} FROM {} WHERE {}").format(
        _hash(keys.source), source_table(plan), _source_where(plan, keys, lower, upper, held=False)
    )


def copy_source_keys(plan: SyncPlan, keys: KeyMap, lower: Bound, upper: Bound) -> sql.Composed:
    """The source keys of a range as binary COPY (the types match the destination's)."""
    return sql.SQL("COPY (SELECT {} FROM {} WHERE {}) TO STDOUT (FORMAT BINARY)").format(
        column_list(keys.source),
        source_table(plan),
        _source_where(plan, keys, lower, upper, held=True),
    )


def create_key_tables(plan: SyncPlan, keys: KeyMap) -> sql.Composed:
    """The session's tables: one range of core keys (emptied at commit), and the extras."""
    return sql.SQL(
        "DROP TABLE IF EXISTS {core}, {extra};"
        " CREATE TEMP TABLE {core} ON COMMIT DELETE ROWS AS SELECT {cols} FROM {dest} WITH NO DATA;"
        " CREATE TEMP TABLE {extra} AS SELECT {cols} FROM {dest} WITH NO DATA"
    ).format(
        core=ident(CORE_KEYS_TABLE),
        extra=ident(EXTRA_TABLE),
        cols=column_list(keys.dest),
        dest=destination_table(plan),
    )


def drop_tables(*names: str) -> sql.Composed:
    """Drop the session's temp tables ``names`` where they exist."""
    return sql.SQL("DROP TABLE IF EXISTS {}").format(sql.SQL(", ").join(ident(n) for n in names))


def copy_core_keys_in(keys: KeyMap) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        ident(CORE_KEYS_TABLE), column_list(keys.dest)
    )


def same_key(names: list[str], left: str, right: str) -> sql.Composable:
    """``left``'s and ``right``'s rows hold the same key (columns ``names``)."""
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(ident(left, n), ident(right, n)) for n in names
    )


def range_candidates(plan: SyncPlan, keys: KeyMap, lower: Bound, upper: Bound) -> sql.Composed:
    """Destination keys of a range (as text) that core's copied keys lack."""
    return sql.SQL(
        "SELECT {texts} FROM {dest} AS d WHERE {where}"
        " AND NOT EXISTS (SELECT 1 FROM {core} AS c WHERE {same})"
    ).format(
        texts=sql.SQL(", ").join(sql.SQL("{}::text").format(ident("d", n)) for n in keys.dest),
        dest=destination_table(plan),
        where=range_predicate(keys.dest, keys.dest_types, lower, upper, "d"),
        core=ident(CORE_KEYS_TABLE),
        same=same_key(keys.dest, "c", "d"),
    )


def _unnest(width: int) -> sql.Composable:
    """``unnest(%s::text[], ...) AS c(c0, ...)``: one text array per key column."""
    arrays = sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in range(width))
    names = sql.SQL(", ").join(ident(f"c{i}") for i in range(width))
    return sql.SQL("unnest({}) AS c({})").format(arrays, names)


def _cast_columns(types: list[str]) -> list[sql.Composable]:
    return [
        sql.SQL("CAST({} AS {})").format(ident("c", f"c{i}"), sql.SQL(t))
        for i, t in enumerate(types)
    ]


def absent_in_source(plan: SyncPlan, keys: KeyMap) -> sql.Composed:
    """Of the candidate keys given as text arrays, those core holds no exportable row of.

    Equality on each column, not the ranges' order, decides: so two servers
    that sort text differently can only make a range look different, never
    make a row look deleted.
    """
    same = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(ident("s", n), cast)
        for n, cast in zip(keys.source, _cast_columns(keys.source_types), strict=True)
    )
    live = sql.SQL("{} AND {}").format(same, _held(plan, "s"))
    return sql.SQL("SELECT {} FROM {} WHERE NOT EXISTS (SELECT 1 FROM {} AS s WHERE {})").format(
        column_list([f"c{i}" for i in range(len(keys.source))]),
        _unnest(len(keys.source)),
        source_table(plan),
        live,
    )


def remember_extra(keys: KeyMap) -> sql.Composed:
    """Insert keys given as text arrays into the extras table, typed."""
    return sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
        ident(EXTRA_TABLE),
        column_list(keys.dest),
        sql.SQL(", ").join(_cast_columns(keys.dest_types)),
        _unnest(len(keys.dest)),
    )


def remember_unseen(plan: SyncPlan, keys: KeyMap, seen_table: str) -> sql.Composed:
    """Insert into the extras the destination keys that ``seen_table`` (staged keys) lacks."""
    return sql.SQL(
        "INSERT INTO {extra} ({cols}) SELECT {d_cols} FROM {dest} AS d"
        " WHERE NOT EXISTS (SELECT 1 FROM {seen} AS s WHERE {same})"
    ).format(
        extra=ident(EXTRA_TABLE),
        cols=column_list(keys.dest),
        d_cols=column_list(keys.dest, "d"),
        dest=destination_table(plan),
        seen=ident(seen_table),
        same=same_key(keys.dest, "s", "d"),
    )


def key_text(names: list[str], prefix: str) -> sql.Composable:
    """A key as ``a=1, b=x`` text, to name it in a report."""
    parts = [
        sql.SQL("{} || coalesce({}::text, 'NULL')").format(sql.Literal(f"{n}="), ident(prefix, n))
        for n in names
    ]
    return sql.SQL("concat_ws(', ', {})").format(sql.SQL(", ").join(parts))


def count_and_examples() -> sql.Composed:
    """How a report counts what it found and names the first few: ``count(*)`` and the
    first EXAMPLES values of the rows' ``key`` text, in order."""
    return sql.SQL("count(*), (array_agg(key ORDER BY key))[1:{}]").format(sql.Literal(EXAMPLES))


def extra_summary(keys: KeyMap) -> sql.Composed:
    """(count, the first few keys as text) of the extras found."""
    return sql.SQL("SELECT {found} FROM (SELECT {text} AS key FROM {extra} AS x) AS e").format(
        found=count_and_examples(), text=key_text(keys.dest, "x"), extra=ident(EXTRA_TABLE)
    )


def delete_extra(plan: SyncPlan, keys: KeyMap) -> sql.Composed:
    """Delete the extras from the destination; its rowcount is the rows deleted."""
    return sql.SQL("DELETE FROM {} AS d USING {} AS x WHERE {}").format(
        destination_table(plan), ident(EXTRA_TABLE), same_key(keys.dest, "d", "x")
    )


# -- one-column keys: buckets, each server's counts and hashes in one scan ----------------


def _bucket_of(column: sql.Composable, type_name: str) -> sql.Composable:
    """The bucket of ``column``'s value among the bounds (``%(bounds)s``, text, ascending)."""
    return sql.SQL("width_bucket({}, CAST(%(bounds)s AS {}[]))").format(column, sql.SQL(type_name))


def bucket_bounds(plan: SyncPlan, keys: KeyMap, size: int) -> sql.Composed:
    """Every ``size``-th destination key in key order, as text: the buckets' lower bounds."""
    key = ident(keys.dest[0])
    return sql.SQL(
        "SELECT k FROM (SELECT {key}::text AS k, {key} AS v, row_number() OVER (ORDER BY {key})"
        " AS n FROM {dest} WHERE {key} IS NOT NULL) AS t WHERE n % {size} = 1 ORDER BY v"
    ).format(key=key, dest=destination_table(plan), size=sql.Literal(size))


def _bucket_where(
    plan: SyncPlan, keys: KeyMap, *, source: bool, held: bool = False
) -> tuple[sql.Composable, ...]:
    """(table, bucket expression, condition) of one side; core's keys it holds (``held``)
    or those exported (see _source_where)."""
    if source:
        column = ident(keys.source[0])
        kept = _held(plan) if held else _exported(plan)
        where = sql.SQL("{} IS NOT NULL AND {}").format(column, kept)
        return source_table(plan), _bucket_of(column, keys.source_types[0]), where
    column = ident(keys.dest[0])
    bucket = _bucket_of(column, keys.dest_types[0])
    return destination_table(plan), bucket, sql.SQL("{} IS NOT NULL").format(column)


def bucket_hashes(plan: SyncPlan, keys: KeyMap, *, source: bool) -> sql.Composed:
    """(bucket, count, hash) of every bucket of one side's keys, in one scan."""
    table, bucket, where = _bucket_where(plan, keys, source=source)
    names = keys.source if source else keys.dest
    return sql.SQL("SELECT {b}, count(*), {hash} FROM {t} WHERE {w} GROUP BY 1").format(
        b=bucket, hash=_hash(names), t=table, w=where
    )


def copy_bucket_keys(plan: SyncPlan, keys: KeyMap) -> sql.Composed:
    """Core's keys in the buckets ``%(buckets)s`` as binary COPY, in one scan."""
    table, bucket, where = _bucket_where(plan, keys, source=True, held=True)
    return sql.SQL(
        "COPY (SELECT {} FROM {} WHERE {} AND {} = ANY(%(buckets)s)) TO STDOUT (FORMAT BINARY)"
    ).format(ident(keys.source[0]), table, where, bucket)


def bucket_candidates(plan: SyncPlan, keys: KeyMap) -> sql.Composed:
    """Destination keys (as text) in the buckets ``%(buckets)s`` that core's copied keys lack."""
    key = ident("d", keys.dest[0])
    return sql.SQL(
        "SELECT {key}::text FROM {dest} AS d WHERE {key} IS NOT NULL"
        " AND {bucket} = ANY(%(buckets)s) AND NOT EXISTS (SELECT 1 FROM {core} AS c WHERE {same})"
    ).format(
        key=key,
        dest=destination_table(plan),
        bucket=_bucket_of(key, keys.dest_types[0]),
        core=ident(CORE_KEYS_TABLE),
        same=same_key(keys.dest, "c", "d"),
    )
