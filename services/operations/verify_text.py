"""--verify's row-level check without a transform: text forms made on each server.

The sync moves values by binary COPY or through their text form; verify must
not take either path to build what it compares (a wrong conversion would
then be compared with itself). Core formats each row of a range in its own
text form and hashes it (md5 of ``ROW(columns)::text``, the conflict key
beside it); those few bytes a row are copied into a session-local table in
analytics, which hashes its own rows' text forms and joins the two by key. A
value the sync altered has another text form there: it differs. The sync
only takes a path whose text round trip is exact
(services/store/type_paths.py), so a faithful copy always hashes the same.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from services.store import SyncPlan, key_sql
from services.store import sql as q
from services.sync import copy_blocks

CORE_ROWS = "tablesync_verify_core"
ROW_HASH = "_tablesync_row_md5"
Conn = psycopg.Connection[Any]


# Query pieces verify.py's checks are built of too: one spelling of each.
def per_kind(diff: sql.Composable) -> sql.Composed:
    """Per kind (missing, differing) of ``diff``'s rows (kind, key): how many, first few keys."""
    return sql.SQL("WITH diff AS ({diff}) SELECT kind, {found} FROM diff GROUP BY kind").format(
        diff=diff, found=key_sql.count_and_examples()
    )


def _row_hash(plan: SyncPlan, prefix: str | None = None) -> sql.Composable:
    """md5 of a row's text form: in analytics (``prefix``) its columns; in core the values
    the read makes (a select's expressions, evaluated by core as a run's read does)."""
    if prefix is not None:
        return sql.SQL("md5(ROW({})::text)").format(q.column_list(plan.selected, prefix))
    return sql.SQL("md5(ROW({})::text)").format(sql.SQL(", ").join(q.read_values(plan)))


def _keys_unique_in_core(plan: SyncPlan) -> bool:
    """Whether core holds each destination key once: the key passes unchanged from a
    unique key of the source."""
    mapping = plan.definition.key_columns
    if mapping is None:
        return False
    return frozenset(mapping[k] for k in plan.keys) in plan.source.unique_keys


def _kept_rows(plan: SyncPlan, window: q.Window) -> sql.Composed:
    """The window's rows in core: key, text hash, soft-deleted flag; where core does not
    hold each key once, per key the last row in cursor order (the one the sync keeps).
    Rows source.where leaves out are not there: a run never reads them."""
    flag = q.soft_deleted(plan)
    unique = _keys_unique_in_core(plan)
    keys = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(v, q.ident(k))
        for v, k in zip(q.key_values(plan), plan.keys, strict=True)
    )
    where = [q.window_predicate(plan, window), *q.filter_parts(plan, flag)]
    return sql.SQL(
        "SELECT {distinct}{keys}, {hash} AS {hash_name}, {flag} AS deleted"
        " FROM {src} WHERE {where}{order}"
    ).format(
        distinct=sql.SQL("") if unique else q.distinct_on(plan.keys),
        keys=keys,
        hash=_row_hash(plan),
        hash_name=q.ident(ROW_HASH),
        flag=flag if flag is not None else sql.SQL("false"),
        src=q.source_table(plan),
        where=sql.SQL(" AND ").join(where),
        order=sql.SQL("")
        if unique
        else sql.SQL(" ORDER BY {}, {}").format(
            q.column_list(plan.keys), q.read_order_by(plan, descending=True)
        ),
    )


def copy_core_rows(plan: SyncPlan, window: q.Window) -> sql.Composed:
    """COPY out of core: each kept (not soft-deleted) row's key and text hash."""
    return sql.SQL(
        "COPY (SELECT {keys}, {hash} FROM ({rows}) AS r WHERE NOT deleted) TO STDOUT"
    ).format(keys=q.column_list(plan.keys), hash=q.ident(ROW_HASH), rows=_kept_rows(plan, window))


def create_core_rows(plan: SyncPlan) -> sql.Composed:
    """The session's table of core's keys (the destination's key types) and row hashes."""
    return sql.SQL(
        "DROP TABLE IF EXISTS {t}; CREATE TEMP TABLE {t} ON COMMIT DELETE ROWS AS"
        " SELECT {keys} FROM {dest} WITH NO DATA; ALTER TABLE {t} ADD COLUMN {hash} text"
    ).format(
        t=q.ident(CORE_ROWS),
        keys=q.column_list(plan.keys),
        dest=q.destination_table(plan),
        hash=q.ident(ROW_HASH),
    )


def diff_query(plan: SyncPlan) -> sql.Composed:
    """Per kind (missing, differing): how many of core's rows and the first few keys."""
    return per_kind(
        sql.SQL(
            "SELECT CASE WHEN d.ctid IS NULL THEN 'missing' ELSE 'differing' END"
            " AS kind, {key_text} AS key FROM {core} AS c LEFT JOIN {dest} AS d ON {match}"
            " WHERE d.ctid IS NULL OR {d_hash} <> c.{hash}"
        ).format(
            key_text=key_sql.key_text(plan.keys, "c"),
            core=q.ident(CORE_ROWS),
            dest=q.destination_table(plan),
            match=key_sql.same_key(plan.keys, "c", "d"),
            d_hash=_row_hash(plan, "d"),
            hash=q.ident(ROW_HASH),
        )
    )


def count_query() -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM {}").format(q.ident(CORE_ROWS))


def remember_query(plan: SyncPlan, seen: str) -> sql.Composed:
    """Core's keys of the range as seen: a destination row with one of them is not extra."""
    return sql.SQL("INSERT INTO {} ({keys}) SELECT {keys} FROM {}").format(
        q.ident(seen), q.ident(CORE_ROWS), keys=q.column_list(plan.keys)
    )


def copy_in(plan: SyncPlan) -> sql.Composed:
    return sql.SQL("COPY {} ({}, {}) FROM STDIN").format(
        q.ident(CORE_ROWS), q.column_list(plan.keys), q.ident(ROW_HASH)
    )


def fetch_core_rows(plan: SyncPlan, core: Conn, analytics: Conn, window: q.Window) -> None:
    """Core's keys and row hashes of ``window`` into the session's table (inside the
    caller's analytics transaction)."""
    with (
        core.cursor() as reader,
        analytics.cursor() as writer,
        reader.copy(copy_core_rows(plan, window)) as out,
        writer.copy(copy_in(plan)) as into,
    ):
        copy_blocks(out, into)
