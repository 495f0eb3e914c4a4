"""Every SQL statement of the sync, composed in one place with quoted identifiers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from services.base import Position, Watermark
from services.store.layout import StagingLayout
from services.store.plan import CopyMode, SyncPlan

STAGING_TABLE = "tablesync_staging"
ORDINAL = "_tablesync_ord"
ROW_CURSOR = "_tablesync_cursor"
ROW_ID = "_tablesync_id"
# A staged row that deletes its key: its soft-delete flag was set, or a transform said Delete.
DELETED = "_tablesync_deleted"

# Each row's verdict in a batch's end query: left out by source.where (count_left_out).
LEFT_OUT = "_tablesync_left_out"
# What a read with a definition's SQL says when its session is no longer read-only.
READ_ONLY_LOST = (
    "tablesync: the core session is no longer read-only (a select or where expression"
    " changed default_transaction_read_only); nothing was read"
)

Query = tuple[sql.Composed, list[Any]]


def ident(*names: str) -> sql.Identifier:
    return sql.Identifier(*names)


def column_list(names: list[str], prefix: str | None = None) -> sql.Composed:
    if prefix is None:
        return sql.SQL(", ").join(ident(n) for n in names)
    return sql.SQL(", ").join(ident(prefix, n) for n in names)


# -- a definition's own SQL (select, source.where) ---------------------------


def user_sql(text: str) -> sql.Composed:
    """A definition's SQL expression in its frame: in parentheses, on lines of its own (a
    trailing ``--`` comment ends before the closing one). services/base/sql_text.py has
    refused any text that could close them; the text is never formatted, only joined."""
    return sql.Composed([sql.SQL("(\n"), sql.SQL(text), sql.SQL("\n)")])


def read_only_guard() -> sql.Composable:
    """A condition that raises unless the statement's own transaction is read-only.

    Core sessions are read-only by default_transaction_read_only, a setting an
    expression could change with set_config(): later transactions of the session
    would then write. Every query holding a definition's SQL carries this check,
    a one-time filter PostgreSQL runs before any row (and any expression of it)."""
    return sql.SQL(
        "CAST(CASE WHEN current_setting('transaction_read_only') = 'on' THEN 'true'"
        " ELSE {} END AS boolean)"
    ).format(sql.Literal(READ_ONLY_LOST))


def read_values(plan: SyncPlan) -> list[sql.Composable]:
    """The value of each read column (plan.selected), in order: a source column, or the
    select's expression of a destination column."""
    if plan.expressions is None:
        return [ident(n) for n in plan.selected]
    return [user_sql(plan.expressions[n]) for n in plan.selected]


def read_list(plan: SyncPlan) -> sql.Composable:
    """The read query's columns: the selected source columns, or each select expression
    named by its destination column."""
    if plan.expressions is None:
        return column_list(plan.selected)
    return sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(v, ident(n))
        for v, n in zip(read_values(plan), plan.selected, strict=True)
    )


def key_values(plan: SyncPlan) -> list[sql.Composable]:
    """Each conflict column's value as core computes it from a source row."""
    if plan.expressions is None:
        return [ident(k) for k in plan.keys]
    return [user_sql(plan.expressions[k]) for k in plan.keys]


def filter_parts(plan: SyncPlan, flag: sql.Composable | None = None) -> list[sql.Composable]:
    """What a read adds to its window for the definition's own SQL: the read-only guard,
    and ``source.where`` (a row ``flag`` marks soft-deleted is read whatever it says: it
    deletes its key)."""
    if not plan.user_sql:
        return []
    parts = [read_only_guard()]
    where = plan.row_filter
    if where is not None and flag is None:
        parts.append(user_sql(where))
    elif where is not None:
        parts.append(sql.SQL("({} OR {})").format(user_sql(where), flag))
    return parts


def left_out(plan: SyncPlan) -> sql.Composable | None:
    """Whether a row is one ``source.where`` leaves out (not a soft-deleted one, which is
    read); None without a where."""
    if plan.row_filter is None:
        return None
    out = sql.SQL("{} IS NOT TRUE").format(user_sql(plan.row_filter))
    flag = soft_deleted(plan)
    return out if flag is None else sql.SQL("({} AND NOT {})").format(out, flag)


def count_left_out(plan: SyncPlan, window: Window) -> sql.Composed | None:
    """How many of the window's rows ``source.where`` leaves out: counted as skipped, never
    read; None without a where."""
    out = left_out(plan)
    if out is None:
        return None
    return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
        window_source(plan, window),
        sql.SQL(" AND ").join([window_predicate(plan, window), read_only_guard(), out]),
    )


@dataclass(frozen=True)
class Leaf:
    """A leaf partition of a partitioned source: a heap of its own, read by its name.

    ``attached`` False: no longer a partition of the source (dropped or detached
    since its backfill was planned), so a chunk of it reads nothing."""

    oid: int
    schema: str
    name: str
    attached: bool = True


@dataclass(frozen=True)
class PageRange:
    """Heap blocks [first, end) of the source, or of one of its leaf partitions (``leaf``),
    one backfill chunk; ``end`` None: to the end."""

    first: int
    end: int | None
    leaf: Leaf | None = None


@dataclass(frozen=True)
class Window:
    """The rows one query reads: (lower, upper] in cursor order, below the watermark;
    or, with ``pages``, a backfill chunk: every exportable row in those heap blocks,
    in physical order (services/sync/backfill/plan.py), whatever its cursor value."""

    lower: Position | None  # open start: strictly after the saved position
    upper: Position | None  # closed end: the batch's last row, None for "up to the watermark"
    watermark: Watermark
    pages: PageRange | None = None
    # Of its rows, those source.where leaves out: counted as skipped, never read.
    left_out: int = 0
    # Instead, the rows no window holds: a NULL cursor or tie-breaker (rule 6). Only verify
    # reads them, so that a repair keeps the destination rows of keys core still holds.
    unexportable: bool = False


def unexportable_rows() -> Window:
    """The window of the rows no run exports (``Window.unexportable``)."""
    return Window(None, None, Watermark(None, True), unexportable=True)


def _typed(value: str | None, type_name: str) -> sql.Composable:
    return sql.SQL("CAST({} AS {})").format(sql.Literal(value), sql.SQL(type_name))


def _key(plan: SyncPlan) -> sql.Composable:
    """The ordering key as SQL: the cursor, or the row (cursor, id columns...)."""
    if not plan.cursor_ids:
        return ident(plan.cursor.name)
    return sql.SQL("({})").format(column_list(plan.key_names))


def _key_value(plan: SyncPlan, position: Position) -> sql.Composable:
    columns = [plan.cursor, *plan.cursor_ids]
    values = [position.value, *position.ids]
    parts = [_typed(v, c.type_name) for v, c in zip(values, columns, strict=True)]
    return parts[0] if len(parts) == 1 else sql.SQL("({})").format(sql.SQL(", ").join(parts))


def _fits(plan: SyncPlan, position: Position) -> bool:
    """Whether ``position`` holds a value for each of the plan's key columns."""
    return len(position.ids) == len(plan.cursor_ids)


def _tid(page: int) -> sql.Composable:
    return sql.SQL("CAST({} AS tid)").format(sql.Literal(f"({page},0)"))


def _in_pages(pages: PageRange) -> list[sql.Composable]:
    """A TID range scan of the chunk's blocks (PostgreSQL 14+), never a sequential scan."""
    parts: list[sql.Composable] = [sql.SQL("ctid >= {}").format(_tid(pages.first))]
    if pages.end is not None:
        parts.append(sql.SQL("ctid < {}").format(_tid(pages.end)))
    return parts


def _cursor_bound(plan: SyncPlan, op: str, position: Position) -> list[sql.Composable]:
    """The cursor's own bound implied by a (cursor, id) row comparison. It changes no
    result, but the planner has no statistics for row comparisons: without it a 10k-row
    window of a 1M-row table was estimated at 212k rows and read by a parallel seq scan
    and a sort (98 ms); with it, by the cursor index (21 ms; docs/benchmarks/round-6.md)."""
    if not plan.cursor_ids:
        return []  # the key is the cursor alone: its comparison is already a simple one
    value = _typed(position.value, plan.cursor.type_name)
    return [sql.SQL("{} {} {}").format(ident(plan.cursor.name), sql.SQL(op), value)]


def window_predicate(plan: SyncPlan, window: Window) -> sql.Composable:
    """The WHERE clause every read uses, so all agree on what a window holds."""
    if window.unexportable:
        nulls = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(ident(n)) for n in plan.key_names)
        return sql.SQL("({})").format(nulls)
    key = _key(plan)
    cursor = ident(plan.cursor.name)
    parts: list[sql.Composable] = [
        sql.SQL("{} IS NOT NULL").format(ident(n)) for n in plan.key_names
    ]
    if window.pages is not None:  # rule 6 still holds: a NULL cursor is never exported
        leaf = window.pages.leaf
        if leaf is not None and not leaf.attached:
            parts.append(sql.SQL("false"))
        return sql.SQL(" AND ").join([*parts, *_in_pages(window.pages)])
    lower, upper = window.lower, window.upper
    if lower is not None and not lower.ids and plan.cursor_ids:
        # A backfill's hand-over: every row past the cursor value, whatever its id.
        parts.append(sql.SQL("{} > {}").format(cursor, _typed(lower.value, plan.cursor.type_name)))
    elif lower is not None and not _fits(plan, lower):
        # Saved under another id_field: the rows tying at its value come again (an
        # upsert of a row already there changes nothing), so none is skipped.
        parts.append(sql.SQL("{} >= {}").format(cursor, _typed(lower.value, plan.cursor.type_name)))
    elif lower is not None:
        parts.append(sql.SQL("{} > {}").format(key, _key_value(plan, lower)))
        parts += _cursor_bound(plan, ">=", lower)
    if upper is not None and _fits(plan, upper):
        parts.append(sql.SQL("{} <= {}").format(key, _key_value(plan, upper)))
        parts += _cursor_bound(plan, "<=", upper)
    elif upper is not None:
        parts.append(sql.SQL("{} <= {}").format(cursor, _typed(upper.value, plan.cursor.type_name)))
    mark = window.watermark
    if mark.value is None:
        parts.append(sql.SQL("false"))
    else:
        op = sql.SQL("<=" if mark.inclusive else "<")
        parts.append(
            sql.SQL("{} {} {}").format(cursor, op, _typed(mark.value, plan.cursor.type_name))
        )
    return sql.SQL(" AND ").join(parts)


def soft_deleted(plan: SyncPlan, prefix: str | None = None) -> sql.Composable | None:
    """The source row's soft-delete flag as a boolean: true (boolean column) or not NULL
    (any other type); None when the definition has no soft_delete."""
    spec = plan.definition.source.soft_delete
    if spec is None:
        return None
    column = ident(prefix, spec.field) if prefix else ident(spec.field)
    if plan.source.columns[spec.field].base_type == "boolean":
        return sql.SQL("coalesce({}, false)").format(column)
    return sql.SQL("{} IS NOT NULL").format(column)


def can_delete(plan: SyncPlan) -> bool:
    """Whether a staged row may delete its key: soft deletes, or a transform (``Delete``)."""
    return plan.definition.source.soft_delete is not None or plan.mode is CopyMode.PYTHON


def _read_order(plan: SyncPlan, window: Window) -> sql.Composable:
    """Cursor order, or none for a chunk: its rows come as the TID range scan finds them."""
    if window.pages is not None or window.unexportable:
        return sql.SQL("")
    return sql.SQL(" ORDER BY {}").format(read_order_by(plan))


def order_by(plan: SyncPlan, *, descending: bool = False) -> sql.Composable:
    direction = sql.SQL(" DESC" if descending else "")
    return sql.SQL(", ").join(sql.SQL("{}{}").format(ident(n), direction) for n in plan.key_names)


def read_order_by(plan: SyncPlan, *, descending: bool = False) -> sql.Composable:
    """``order_by`` for a query whose columns a select names: each key column qualified by
    the source, since ORDER BY takes a bare name for an output column first (a select
    may name a destination column as core names another of its columns)."""
    if plan.expressions is None:
        return order_by(plan, descending=descending)
    direction = sql.SQL(" DESC" if descending else "")
    schema, table = plan.source.schema, plan.source.name
    return sql.SQL(", ").join(
        sql.SQL("{}{}").format(ident(schema, table, n), direction) for n in plan.key_names
    )


def source_table(plan: SyncPlan) -> sql.Identifier:
    """The plan's core table, schema-qualified: the one spelling every query uses."""
    return ident(plan.source.schema, plan.source.name)


def destination_table(plan: SyncPlan) -> sql.Identifier:
    """The plan's analytics table, schema-qualified: the one spelling every query uses."""
    return ident(plan.destination.schema, plan.destination.name)


def _id_as_text(plan: SyncPlan) -> sql.Composable:
    """The tie-breaker as one text value: NULL without one, the column's text for one
    column, a JSON list of the columns' texts for several (position.ids_from_text)."""
    names = plan.id_names
    if not names:
        return sql.NULL
    if len(names) == 1:
        return sql.SQL("{}::text").format(ident(names[0]))
    texts = sql.SQL(", ").join(sql.SQL("{}::text").format(ident(n)) for n in names)
    return sql.SQL("json_build_array({})::text").format(texts)


def window_source(plan: SyncPlan, window: Window) -> sql.Identifier:
    """The relation a window's rows are read from: the source, or for a chunk of one of its
    leaf partitions that leaf (a partitioned table has no heap of its own to cut)."""
    leaf = None if window.pages is None else window.pages.leaf
    if leaf is None or not leaf.attached:
        return source_table(plan)
    return ident(leaf.schema, leaf.name)


def key_as_text(plan: SyncPlan) -> sql.Composable:
    """The key of a row as two text columns (ROW_CURSOR, ROW_ID): Position.from_key_text."""
    # Aliased so ORDER BY on the cursor column is never ambiguous with its text form.
    return sql.SQL("{}::text AS {}, {} AS {}").format(
        ident(plan.cursor.name), ident(ROW_CURSOR), _id_as_text(plan), ident(ROW_ID)
    )


def batch_end(plan: SyncPlan, window: Window, *, with_left_out: bool = True) -> sql.Composed:
    """The last row of the next batch, as text: (cursor, id), or no row when done; with a
    ``source.where`` (unless ``with_left_out`` is False), then how many of the batch's rows
    it leaves out (read in the same scan, so the rows left out never reach the runner yet
    count as skipped; it reads each row, where the key alone could come from the index)."""
    key_columns: sql.Composable = column_list(plan.key_names)
    left: sql.Composable = sql.SQL("")
    window_where = window_predicate(plan, window)
    out = left_out(plan) if with_left_out else None
    if out is not None:
        key_columns = sql.SQL("{}, {} AS {}").format(key_columns, out, ident(LEFT_OUT))
        left = sql.SQL(", count(*) FILTER (WHERE {}) OVER ()").format(ident(LEFT_OUT))
        window_where = sql.SQL("{} AND {}").format(window_where, read_only_guard())
    return sql.SQL(
        "SELECT {key_text}{left} FROM (SELECT {cols} FROM {src} WHERE {where} ORDER BY {order}"
        " LIMIT {limit}) AS batch ORDER BY {order_desc} LIMIT 1"
    ).format(
        key_text=key_as_text(plan),
        left=left,
        cols=key_columns,
        src=source_table(plan),
        where=window_where,
        order=order_by(plan),
        limit=sql.Literal(plan.batch_size),
        order_desc=order_by(plan, descending=True),
    )


def last_row_below(plan: SyncPlan, watermark: Watermark) -> sql.Composed:
    """The key (as text) of the last row in cursor order below ``watermark``, if any."""
    window = Window(lower=None, upper=None, watermark=watermark)
    return sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1").format(
        key_as_text(plan),
        source_table(plan),
        window_predicate(plan, window),
        order_by(plan, descending=True),
    )


def select_rows(
    plan: SyncPlan, window: Window, *, with_key_text: bool, soft_deleted_rows: str = "flag"
) -> sql.Composed:
    """The selected columns of the window's rows in cursor order (plus the key as text).

    With soft deletes, ``soft_deleted_rows`` says what becomes of flagged rows:
    ``"flag"`` reads every row, each ending with its flag (DELETED);
    ``"skip"`` leaves them out (rows copied straight into the destination).
    """
    extra = sql.SQL(", {}").format(key_as_text(plan)) if with_key_text else sql.SQL("")
    parts = [window_predicate(plan, window)]
    flag = soft_deleted(plan)
    if flag is not None and soft_deleted_rows == "skip":
        parts.append(sql.SQL("NOT {}").format(flag))
        parts += filter_parts(plan)
    elif flag is not None:
        extra = sql.SQL("{}, {} AS {}").format(extra, flag, ident(DELETED))
        parts += filter_parts(plan, flag)
    else:
        parts += filter_parts(plan)
    return sql.SQL("SELECT {cols}{extra} FROM {src} WHERE {where}{order}").format(
        cols=read_list(plan),
        extra=extra,
        src=window_source(plan, window),
        where=sql.SQL(" AND ").join(parts),
        order=_read_order(plan, window),
    )


def copy_out(
    plan: SyncPlan,
    window: Window,
    *,
    binary: bool,
    with_key_text: bool = True,
    soft_deleted_rows: str = "flag",
) -> sql.Composed:
    """The window's rows for COPY; without the key text when they go straight to the table
    (see select_rows for ``soft_deleted_rows``)."""
    select = select_rows(
        plan, window, with_key_text=with_key_text, soft_deleted_rows=soft_deleted_rows
    )
    return sql.SQL("COPY ({}) TO STDOUT{}").format(
        select, sql.SQL(" (FORMAT BINARY)" if binary else "")
    )


def copy_next_batch(plan: SyncPlan, window: Window, *, binary: bool) -> sql.Composed:
    """``next_batch`` read straight into COPY."""
    return sql.SQL("COPY ({}) TO STDOUT{}").format(
        next_batch(plan, window), sql.SQL(" (FORMAT BINARY)" if binary else "")
    )


def next_batch(plan: SyncPlan, window: Window) -> sql.Composed:
    """The next batch in one index range scan: the window's rows (open ``upper``) in cursor
    order, ``batch_size`` of them, each followed by its key as text, so the batch's end is
    its last row. Without a tie-breaker, every row tying with the last one comes too (WITH
    TIES), so ties never straddle two batches."""
    ties = "LIMIT {limit}" if plan.cursor_ids else "FETCH FIRST {limit} ROWS WITH TIES"
    query = sql.SQL("SELECT {cols}, {key_text} FROM {src} WHERE {where} ORDER BY {order} " + ties)
    return query.format(
        cols=read_list(plan),
        key_text=key_as_text(plan),
        src=source_table(plan),
        where=sql.SQL(" AND ").join([window_predicate(plan, window), *filter_parts(plan)]),
        order=read_order_by(plan),
        limit=sql.Literal(plan.batch_size),
    )


def sorts_allowed(allowed: bool) -> sql.SQL:
    """The session setting ``copy_next_batch`` is read under: sorts off, so the planner takes
    the ordered index scan of (cursor, id) whenever the table has that index. Its guess of a
    window of rows updated since the last ANALYZE is a handful (they lie past the histogram),
    for which a bitmap heap scan and a sort look as cheap: that plan reads the whole window,
    not ``batch_size`` rows, and sends no row before its sort ends. Without such an index
    the plan still sorts; the rows read are the same either way."""
    return sql.SQL("RESET enable_sort" if allowed else "SET enable_sort = off")


def count_unexportable(plan: SyncPlan) -> sql.Composed | None:
    """Rows whose cursor (or tie-breaker) is NULL, which no window holds (docs/guarantees.md,
    guarantee 5); None when the catalog says neither column can be NULL (no query needed: on a table
    without an index on them, the count would read the whole table every run)."""
    columns = [c for c in (plan.cursor, *plan.cursor_ids) if not c.not_null]
    if not columns:
        return None
    conditions = [sql.SQL("{} IS NULL").format(ident(c.name)) for c in columns]
    return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
        source_table(plan), sql.SQL(" OR ").join(conditions)
    )


def row_at(plan: SyncPlan, window: Window, offset: int) -> sql.Composed:
    """The key (as text) of the window's row at ``offset``, to name a row that failed."""
    order = order_by(plan) if window.pages is None else sql.SQL("ctid")
    return sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} OFFSET {} LIMIT 1").format(
        key_as_text(plan),
        window_source(plan, window),
        window_predicate(plan, window),
        order,
        sql.Literal(offset),
    )


# -- analytics side ---------------------------------------------------------


def create_staging(plan: SyncPlan, columns: list[str], layout: StagingLayout) -> sql.Composed:
    """A session-local staging table with the destination's types for ``columns``, and
    ``layout``'s extra columns: each row's key as text and its order of arrival, and
    whether the row deletes its key (DELETED)."""
    added = []
    if layout.keyed:
        added += ["ADD COLUMN {row_cursor} text, ADD COLUMN {row_id} text"]
        if layout.ordinal:
            added += ["ADD COLUMN {ordinal} bigint GENERATED ALWAYS AS IDENTITY"]
    if layout.deletes:
        added += ["ADD COLUMN {deleted} boolean NOT NULL DEFAULT false"]
    alter = f"; ALTER TABLE {{staging}} {', '.join(added)}" if added else ""
    return sql.SQL(
        "CREATE TEMP TABLE {staging} ON COMMIT DELETE ROWS AS SELECT {cols} FROM {dest}"
        " WITH NO DATA" + alter
    ).format(
        staging=ident(STAGING_TABLE),
        cols=column_list(columns),
        dest=destination_table(plan),
        row_cursor=ident(ROW_CURSOR),
        row_id=ident(ROW_ID),
        ordinal=ident(ORDINAL),
        deleted=ident(DELETED),
    )


def drop_staging() -> sql.Composed:
    return sql.SQL("DROP TABLE IF EXISTS {}").format(ident(STAGING_TABLE))


def copy_in(columns: list[str], *, binary: bool, layout: StagingLayout) -> sql.Composed:
    """COPY into staging: ``columns``, then the key text and DELETED where ``layout`` has
    them (the ordinal fills itself)."""
    keys = [ROW_CURSOR, ROW_ID] if layout.keyed else []
    names = [*columns, *keys, *([DELETED] if layout.deletes else [])]
    return sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        ident(STAGING_TABLE),
        column_list(names),
        sql.SQL(" (FORMAT BINARY)" if binary else ""),
    )


def destination_is_empty(plan: SyncPlan) -> sql.Composed:
    """One row: whether the destination holds no row at all (one probe, no count)."""
    return sql.SQL("SELECT NOT EXISTS (SELECT FROM {})").format(destination_table(plan))


def copy_into_destination(plan: SyncPlan, columns: list[str], *, binary: bool) -> sql.Composed:
    """COPY straight into the destination: the initial-load fast path (sync/fast_path.py)."""
    return sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        destination_table(plan),
        column_list(columns),
        sql.SQL(" (FORMAT BINARY)" if binary else ""),
    )


def first_null_key(plan: SyncPlan, *, deletes: bool = False) -> sql.Composed:
    """The first staged row with a NULL conflict column, which ON CONFLICT cannot match
    (a row that deletes has nothing to match: it deletes nothing)."""
    null = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(ident(k)) for k in plan.keys)
    if deletes:
        null = sql.SQL("({}) AND NOT {}").format(null, ident(DELETED))
    return sql.SQL("SELECT {}, {} FROM {} WHERE {} ORDER BY {} LIMIT 1").format(
        ident(ROW_CURSOR), ident(ROW_ID), ident(STAGING_TABLE), null, ident(ORDINAL)
    )


def distinct_on(keys: list[str]) -> sql.Composable:
    return sql.SQL("DISTINCT ON ({}) ").format(column_list(keys))


def last_first(keys: list[str]) -> sql.Composable:
    """Per key, the row staged last first: DISTINCT ON keeps it (docs/guarantees.md, 3)."""
    return sql.SQL(" ORDER BY {}, {} DESC").format(column_list(keys), ident(ORDINAL))


def upsert(plan: SyncPlan, columns: list[str], *, distinct: bool = True) -> sql.Composed:
    """Staging into destination: last row per key wins; unchanged rows are not rewritten.

    ``distinct=False`` drops the DISTINCT ON sort, for batches that cannot hold
    a key twice. Returns one row: (created, updated). (A staging table whose
    rows may delete their key is upserted by delete_sql.upsert_kept.)
    """
    rows = sql.SQL("SELECT {distinct}{cols} FROM {staging}{order}").format(
        cols=column_list(columns),
        staging=ident(STAGING_TABLE),
        distinct=distinct_on(plan.keys) if distinct else sql.SQL(""),
        order=last_first(plan.keys) if distinct else sql.SQL(""),
    )
    return counted_upsert(plan, columns, rows)


def counted_upsert(plan: SyncPlan, columns: list[str], rows: sql.Composable) -> sql.Composed:
    """Upsert ``rows`` (a SELECT of ``columns``) into the destination; one row back:
    (created, updated)."""
    return sql.SQL(
        "WITH written AS (INSERT INTO {dest} AS d ({cols}) {rows}"
        " ON CONFLICT ({keys}) {conflict} RETURNING (d.xmax = 0) AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)"
        " FROM written"
    ).format(
        dest=destination_table(plan),
        cols=column_list(columns),
        rows=rows,
        keys=column_list(plan.keys),
        conflict=on_conflict(plan, columns),
    )


def on_conflict(plan: SyncPlan, columns: list[str]) -> sql.Composable:
    """DO UPDATE of every other written column when it changed, else DO NOTHING.

    Changed means a different binary image (``record *=``, what REFRESH MATERIALIZED
    VIEW CONCURRENTLY compares), not ``IS DISTINCT FROM``: every type has an image,
    while json, xml, point, txid_snapshot and more have no ``=``; and ``=`` calls
    equal what the destination must still be told about: a box of the same area,
    '24 hours' and '1 day', 1.0 and 1.00, -0 and 0, 'ABC' and 'abc' in citext.
    """
    keys = plan.keys
    others = [c for c in columns if c not in keys]
    conflict: sql.Composable
    if others:
        # Cast to record, or the parser compares the two ROWs column by column.
        conflict = sql.SQL(
            "DO UPDATE SET {sets} WHERE NOT (ROW({old})::record *= ROW({new})::record)"
        ).format(
            sets=sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(ident(c), ident(c)) for c in others
            ),
            old=column_list(others, "d"),
            new=column_list(others, "excluded"),
        )
    else:
        conflict = sql.SQL("DO NOTHING")
    return conflict
