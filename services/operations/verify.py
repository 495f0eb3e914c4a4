"""--verify: does analytics hold what the source and transform would produce now?

The source is cut into ranges of N rows in cursor order, up to the saved
position. Verify never builds what it compares through the sync's own
conversion (contract rule 17): without a transform, when the destination
holds the cursor columns, each server first hashes the range's rows' text
forms where it is (count and an order-independent hash; no row moves), so a
clean range costs two index-range aggregates. Otherwise, or when those
differ, core hashes each row's text form and sends only its key and that hash
(verify_text.py); analytics compares them with its own rows' and lists the
missing and differing keys. Only such a range is then staged the sync's way:
to find the rows the destination refuses (unwritable) and, for a repair, to
re-upsert them. With a transform, what a row becomes is the transform's to
say: its output is staged and its count and hash compared with those of the
destination rows having the same conflict keys; only a range that still
differs gets a row-level diff. The keys seen are kept in a session-local
table, so destination rows no source row produces (rows deleted in core: a
cursor cannot see those) are found by one anti-join at the end. Rows after
the saved position are "pending", not missing. Memory stays bounded by one
range; the server holds the rest.

``repair`` re-upserts the expected rows of ranges that differ and deletes the
extra rows, under the definition's lock; the saved position does not move.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from services.base import (
    Databases,
    ExportDefinition,
    Position,
    RowError,
    RunError,
    Watermark,
    bare_column,
    first_line,
    load_position,
    redact,
)
from services.operations import verify_text as vt
from services.operations.repairs import Repair
from services.store import (
    CopyMode,
    SyncPlan,
    definition_lock,
    key_sql,
    newest_cursor,
    planned,
    substance,
)
from services.store import delete_sql as d
from services.store import sql as q
from services.sync import StagedBatch, Staging, copy_blocks

SEEN_TABLE = "tablesync_verify_seen"
# unwritable: a source row the destination cannot take (too long, a transform that raises).
KINDS = ("missing", "extra", "differing", "unwritable")
# What staging raises for one row at fault, rather than for the whole check.
UNSTAGEABLE = (RowError, psycopg.DataError)
Conn = psycopg.Connection[Any]


@dataclass
class VerifyReport:
    """What verify found for one definition; ``examples`` holds a few keys per kind."""

    job: str
    definition: str
    destination: str
    rows_checked: int = 0
    ranges_checked: int = 0
    ranges_differing: int = 0
    ranges_in_place: int = 0  # settled by hashes computed on each server, no row moved
    pending: int = 0
    null_cursor: int = 0  # destination rows whose core row has a NULL cursor: kept
    left_out: int = 0  # destination rows whose core row source.where leaves out: kept
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    examples: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    repaired: bool = False

    @property
    def differs(self) -> bool:
        return any(self.counts.values())

    def add(self, kind: str, count: int, examples: list[str]) -> None:
        self.counts[kind] += count
        room = key_sql.EXAMPLES - len(self.examples[kind])
        self.examples[kind].extend(examples[: max(room, 0)])

    def lines(self) -> list[str]:
        head = f"{self.definition}: {self.rows_checked:,} row(s) checked in"
        head += f" {self.ranges_checked:,} range(s) against {self.destination}"
        lines = [head]
        if not self.differs:
            lines.append("  analytics matches core")
        for kind in KINDS:
            if self.counts[kind]:
                shown = "; ".join(self.examples[kind])
                lines.append(f"  {kind}: {self.counts[kind]:,} (e.g. {shown})")
        if self.counts["unwritable"]:
            lines.append(
                "  (through a transform, an unwritable row's destination row shows as extra;"
                " --repair deletes no extra row while one is unwritable)"
            )
        if self.pending:
            lines.append(f"  pending: {self.pending:,} source row(s) after the saved position")
        if self.null_cursor:
            lines.append(null_cursor_line(self.null_cursor))
        if self.left_out:
            lines.append(left_out_line(self.left_out))
        if self.repaired and self.differs:
            lines.append("  repaired: differing ranges re-synced, extra rows deleted")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "differs": self.differs}

    def raise_if_differs(self) -> None:
        """RunError (exit 1) when analytics differs from core and was not repaired (no
        repair can write a row the destination refuses)."""
        if self.differs and (not self.repaired or self.counts["unwritable"]):
            found = ", ".join(f"{self.counts[k]} {k}" for k in KINDS if self.counts[k])
            raise RunError(
                f"{self.definition}: analytics differs from core ({found}); run"
                f" `python run_job.py {self.job} --verify --repair {self.definition}`"
                " to re-sync the ranges that differ"
            )


def _prefixed(prefix: str, names: list[str]) -> sql.Composed:
    return q.column_list(names, prefix)


def _row_text(prefix: str, names: list[str]) -> sql.Composed:
    return sql.SQL("ROW({})::text").format(_prefixed(prefix, names))


def _expected(plan: SyncPlan, columns: list[str]) -> sql.Composed:
    """The staged rows as the upsert would write them: the last one per key wins (and
    where a row may delete its key, a key whose last row deletes is expected absent)."""
    if q.can_delete(plan):
        return d.kept_rows(plan, columns)
    return sql.SQL(
        "SELECT DISTINCT ON ({keys}) {cols} FROM {staging} ORDER BY {keys}, {ordinal} DESC"
    ).format(
        keys=q.column_list(plan.keys),
        cols=q.column_list(columns),
        staging=q.ident(q.STAGING_TABLE),
        ordinal=q.ident(q.ORDINAL),
    )


def range_summary_query(plan: SyncPlan, columns: list[str]) -> sql.Composed:
    """(expected count, expected hash, destination count, destination hash) of one range."""
    return sql.SQL(
        "WITH e AS ({expected}) SELECT"
        " (SELECT count(*) FROM e), (SELECT sum(hashtextextended({e_row}, 0)::numeric) FROM e),"
        " count(*), sum(hashtextextended({d_row}, 0)::numeric)"
        " FROM {dest} AS d WHERE EXISTS (SELECT 1 FROM e WHERE {match})"
    ).format(
        expected=_expected(plan, columns),
        e_row=_row_text("e", columns),
        d_row=_row_text("d", columns),
        dest=q.destination_table(plan),
        match=key_sql.same_key(plan.keys, "e", "d"),
    )


def range_diff_query(plan: SyncPlan, columns: list[str]) -> sql.Composed:
    """Per kind (missing, differing): how many rows and the first few keys, of one range."""
    return vt.per_kind(
        sql.SQL(
            "WITH e AS ({expected})"
            " SELECT CASE WHEN d.ctid IS NULL THEN 'missing' ELSE 'differing' END AS kind,"
            " {key_text} AS key FROM e LEFT JOIN {dest} AS d ON {match}"
            " WHERE d.ctid IS NULL OR {e_row} IS DISTINCT FROM {d_row}"
        ).format(
            expected=_expected(plan, columns),
            key_text=key_sql.key_text(plan.keys, "e"),
            dest=q.destination_table(plan),
            match=key_sql.same_key(plan.keys, "e", "d"),
            e_row=_row_text("e", columns),
            d_row=_row_text("d", columns),
        )
    )


def _not_seen(plan: SyncPlan) -> sql.Composed:
    return sql.SQL("NOT EXISTS (SELECT 1 FROM {} AS s WHERE {})").format(
        q.ident(SEEN_TABLE), key_sql.same_key(plan.keys, "s", "d")
    )


def extra_rows_query(plan: SyncPlan) -> sql.Composed:
    """How many destination rows no source row produces, and the first few keys."""
    return sql.SQL(
        "SELECT {found} FROM (SELECT {key_text} AS key FROM {dest} AS d WHERE {not_seen}) AS extra"
    ).format(
        found=key_sql.count_and_examples(),
        key_text=key_sql.key_text(plan.keys, "d"),
        dest=q.destination_table(plan),
        not_seen=_not_seen(plan),
    )


def delete_extra_query(plan: SyncPlan) -> sql.Composed:
    return sql.SQL("DELETE FROM {} AS d WHERE {}").format(
        q.destination_table(plan), _not_seen(plan)
    )


def create_seen_query(plan: SyncPlan) -> sql.Composed:
    return sql.SQL(
        "DROP TABLE IF EXISTS {seen}; CREATE TEMP TABLE {seen} AS SELECT {keys} FROM {dest}"
        " WITH NO DATA"
    ).format(
        seen=q.ident(SEEN_TABLE), keys=q.column_list(plan.keys), dest=q.destination_table(plan)
    )


def _cursor_columns_held(plan: SyncPlan) -> dict[str, str] | None:
    """The destination column holding each of the read order's columns (cursor, id)
    unchanged: itself without a select; with one, the column whose expression is that bare
    source column. None when one is not held."""
    if plan.expressions is None:
        held = {c: c for c in plan.key_names if c in plan.selected}
    else:
        bare = {b[0]: d for d, e in plan.expressions.items() if (b := bare_column(e))}
        held = {c: bare[c] for c in plan.key_names if c in bare}
    return held if len(held) == len(plan.key_names) else None


def in_place_plan(plan: SyncPlan) -> SyncPlan | None:
    """The plan whose window predicate selects a range's rows in the destination, when both
    servers can hash a range themselves: no transform, and the destination holds the cursor
    columns with core's types (a select's bare columns); else None."""
    held = _cursor_columns_held(plan)
    if plan.mode is CopyMode.PYTHON or held is None:
        return None
    dest, source = plan.destination.columns, plan.source.columns
    for name, column in held.items():
        same_name = dest[column].type_name == source[name].type_name
        if not same_name or substance(dest[column].shape) != substance(source[name].shape):
            return None
    cursor = plan.definition.source.cursor
    ids = [held[i] for i in cursor.id_fields]
    moved = cursor.model_copy(
        update={"field": held[cursor.field], "id_field": ids if len(ids) > 1 else (ids or None)}
    )
    source_spec = plan.definition.source.model_copy(update={"cursor": moved})
    definition = plan.definition.model_copy(update={"source": source_spec})
    return dataclasses.replace(plan, definition=definition, source=plan.destination)


def range_hash_query(
    plan: SyncPlan, table: sql.Identifier, window: q.Window, *, source: bool = False
) -> sql.Composed:
    """(count, order-independent hash) of a window's rows in ``table``, on its own server:
    the ``source``'s as the read makes them (a select's expressions), without its
    soft-deleted rows or those source.where leaves out, which analytics must not hold; else
    ``plan`` is ``in_place_plan``'s, whose window predicate names the destination's."""
    parts = [q.window_predicate(plan, window)]
    values: sql.Composable = q.column_list(plan.selected)
    flag = q.soft_deleted(plan) if source else None
    if flag is not None:
        parts.append(sql.SQL("NOT {}").format(flag))
    if source:
        parts += q.filter_parts(plan)
        values = sql.SQL(", ").join(q.read_values(plan))
    return sql.SQL(
        "SELECT count(*), sum(hashtextextended(ROW({})::text, 0)::numeric) FROM {} WHERE {}"
    ).format(values, table, sql.SQL(" AND ").join(parts))


def remember_window_keys_query(plan: SyncPlan, window: q.Window) -> sql.Composed:
    """The destination's keys of a range (``plan`` is ``in_place_plan``'s) as seen."""
    return sql.SQL("INSERT INTO {} ({keys}) SELECT {keys} FROM {} WHERE {}").format(
        q.ident(SEEN_TABLE),
        q.destination_table(plan),
        q.window_predicate(plan, window),
        keys=q.column_list(plan.keys),
    )


def keep_staged_keys_query(plan: SyncPlan) -> sql.Composed:
    """Remember the staged keys as seen (remember_keys_query); one row back: how many
    destination rows hold one of them."""
    return sql.SQL(
        "WITH r AS ({remember} RETURNING {keys}) SELECT count(*) FROM {dest} AS d"
        " WHERE EXISTS (SELECT 1 FROM r WHERE {same})"
    ).format(
        remember=remember_keys_query(plan),
        keys=q.column_list(plan.keys),
        dest=q.destination_table(plan),
        same=key_sql.same_key(plan.keys, "r", "d"),
    )


def keep_unexportable(plan: SyncPlan, staging: Staging, core: Conn, analytics: Conn) -> int:
    """Stage the rows no run exports (a NULL cursor or tie-breaker) and remember their keys
    as seen, so that no repair deletes the destination's rows of them: core still holds
    those keys (rule 18). Returns how many destination rows hold one; 0 with no query when
    the catalog says no such row can exist."""
    if q.count_unexportable(plan) is None:
        return 0
    with analytics.transaction():
        staged = staging.stage(core, q.unexportable_rows())
        if staged.nothing_written:
            return 0
        row = analytics.execute(keep_staged_keys_query(plan)).fetchone()
    return 0 if row is None else int(row[0])


LEFT_OUT_TABLE = "tablesync_verify_left_out"


def copy_left_out_keys(plan: SyncPlan) -> sql.Composed | None:
    """COPY out of core: the keys of the rows source.where leaves out (as the read would
    make them); None without a where."""
    out = q.left_out(plan)
    if out is None:
        return None
    return sql.SQL("COPY (SELECT {} FROM {} WHERE {} AND {}) TO STDOUT").format(
        sql.SQL(", ").join(q.key_values(plan)),
        q.source_table(plan),
        q.read_only_guard(),
        out,
    )


def keep_left_out_query(plan: SyncPlan) -> sql.Composed:
    """The left-out keys remembered as seen; one row back: how many destination rows hold
    one of them."""
    return sql.SQL(
        "WITH r AS (INSERT INTO {seen} ({keys}) SELECT {keys} FROM {left} RETURNING {keys})"
        " SELECT count(*) FROM {dest} AS d WHERE EXISTS (SELECT 1 FROM r WHERE {same})"
    ).format(
        seen=q.ident(SEEN_TABLE),
        keys=q.column_list(plan.keys),
        left=q.ident(LEFT_OUT_TABLE),
        dest=q.destination_table(plan),
        same=key_sql.same_key(plan.keys, "r", "d"),
    )


def keep_left_out(plan: SyncPlan, core: Conn, analytics: Conn) -> int:
    """Remember as seen the keys of the rows source.where leaves out: core still holds
    them, so no repair deletes their destination rows (rule 18; docs/select.md). Returns
    how many destination rows hold one; 0 with no query without a where."""
    copy_out = copy_left_out_keys(plan)
    if copy_out is None:
        return 0
    create = sql.SQL(
        "DROP TABLE IF EXISTS {t}; CREATE TEMP TABLE {t} ON COMMIT DROP AS"
        " SELECT {keys} FROM {dest} WITH NO DATA"
    ).format(
        t=q.ident(LEFT_OUT_TABLE), keys=q.column_list(plan.keys), dest=q.destination_table(plan)
    )
    copy_in = sql.SQL("COPY {} ({}) FROM STDIN").format(
        q.ident(LEFT_OUT_TABLE), q.column_list(plan.keys)
    )
    with analytics.transaction():
        analytics.execute(create)
        with (
            core.cursor() as reader,
            analytics.cursor() as writer,
            reader.copy(copy_out) as out,
            writer.copy(copy_in) as into,
        ):
            copy_blocks(out, into)
        row = analytics.execute(keep_left_out_query(plan)).fetchone()
    return 0 if row is None else int(row[0])


def left_out_line(rows: int) -> str:
    """What verify says of the destination rows ``keep_left_out`` kept."""
    return f"  {rows:,} row(s) are left out by source.where in core: not exported, kept"


def null_cursor_line(rows: int) -> str:
    """What verify says of the destination rows ``keep_unexportable`` kept."""
    return f"  {rows:,} row(s) have a NULL cursor in core: not exported, kept"


def remember_keys_query(plan: SyncPlan) -> sql.Composed:
    """The staged keys as seen: those the sync would keep (not deleted by their last row)."""
    if q.can_delete(plan):
        return sql.SQL("INSERT INTO {} ({})").format(
            q.ident(SEEN_TABLE), q.column_list(plan.keys)
        ) + d.kept_rows(plan, plan.keys)
    return sql.SQL("INSERT INTO {} ({keys}) SELECT {keys} FROM {}").format(
        q.ident(SEEN_TABLE), q.ident(q.STAGING_TABLE), keys=q.column_list(plan.keys)
    )


class _Checker:
    """One verify pass: stages each range like a sync would, then compares."""

    def __init__(self, plan: SyncPlan, core: Conn, analytics: Conn, report: VerifyReport):
        self.plan, self.core, self.analytics, self.report = plan, core, analytics, report
        self.staging = Staging(plan, analytics)
        self.in_place = in_place_plan(plan)

    def _matches_in_place(self, in_place: SyncPlan, window: q.Window) -> bool:
        """The cheap check: both sides hash the range where they are; equal means clean."""
        plan = self.plan
        source = q.source_table(plan)
        core_hash = range_hash_query(plan, source, window, source=True)
        found = self.core.execute(core_hash).fetchone()
        dest_hash = range_hash_query(in_place, q.destination_table(plan), window)
        held = self.analytics.execute(dest_hash).fetchone()
        if found is None or found != held:
            return False
        # Equal hashes: the destination's keys in this range are the expected ones.
        self.analytics.execute(remember_window_keys_query(in_place, window))
        self.report.ranges_checked += 1
        self.report.ranges_in_place += 1
        self.report.rows_checked += int(found[0])
        return True

    def stage(self, window: q.Window) -> StagedBatch:
        """The window's expected rows in the staging table (inside the caller's transaction)."""
        return self.staging.stage(self.core, window)

    def check_range(self, window: q.Window, *, repair: bool) -> None:
        """Compare one synced range; on a difference list it, and re-upsert it if asked."""
        if self.in_place is not None and self._matches_in_place(self.in_place, window):
            return
        if self.plan.mode is CopyMode.PYTHON:
            # Only the transform can say what a row becomes: its output is staged.
            size = self.plan.batch_size
            self.each_stageable(window, size, lambda w: self.compare(w, repair=repair))
            return
        if self.compare_text_forms(window):
            # Staging finds the rows the destination refuses; it is the sync's own path,
            # so it only writes (a repair), never decides what matches.
            self.each_stageable(window, self.plan.batch_size, lambda w: self.resync(w, repair))

    def compare_text_forms(self, window: q.Window) -> bool:
        """Core's rows of ``window`` against the destination's by their text forms, each
        made on its own server (verify_text.py); whether any differ."""
        plan, analytics = self.plan, self.analytics
        with analytics.transaction():
            vt.fetch_core_rows(plan, self.core, analytics, window)
            analytics.execute(vt.remember_query(plan, SEEN_TABLE))
            found = analytics.execute(vt.count_query()).fetchone()
            diffs = analytics.execute(vt.diff_query(plan)).fetchall()
        self.report.ranges_checked += 1
        self.report.rows_checked += int(found[0]) if found else 0
        for kind, count, examples in diffs:
            self.report.add(kind, int(count), list(examples))
        self.report.ranges_differing += bool(diffs)
        return bool(diffs)

    def resync(self, window: q.Window, repair: bool) -> None:
        """Stage ``window`` as the sync would (a row it cannot take raises) and, for a
        repair, upsert it."""
        with self.analytics.transaction():
            staged = self.stage(window)
            if repair and not staged.nothing_written:
                kept = d.upsert_kept if q.can_delete(self.plan) else q.upsert
                self.analytics.execute(kept(self.plan, staged.columns))

    def compare(self, window: q.Window, *, repair: bool) -> None:
        with self.analytics.transaction():
            staged = self.stage(window)
            self.report.ranges_checked += 1
            if staged.nothing_written:
                return
            self.analytics.execute(remember_keys_query(self.plan))
            row = self.analytics.execute(range_summary_query(self.plan, staged.columns)).fetchone()
            assert row is not None
            self.report.rows_checked += int(row[0])
            if (row[0], row[1]) == (row[2], row[3]):
                return
            self.report.ranges_differing += 1
            for kind, count, examples in self.analytics.execute(
                range_diff_query(self.plan, staged.columns)
            ):
                self.report.add(kind, int(count), list(examples))
            if repair:
                kept = d.upsert_kept if q.can_delete(self.plan) else q.upsert
                self.analytics.execute(kept(self.plan, staged.columns))

    def collect_pending(self, window: q.Window) -> None:
        """Remember the keys of rows after the saved position: theirs are not extra rows."""
        if self.plan.mode is not CopyMode.PYTHON:
            with self.analytics.transaction():
                vt.fetch_core_rows(self.plan, self.core, self.analytics, window)
                self.analytics.execute(vt.remember_query(self.plan, SEEN_TABLE))
                found = self.analytics.execute(vt.count_query()).fetchone()
            self.report.pending += int(found[0]) if found else 0
            return
        self.each_stageable(window, self.plan.batch_size, self.remember_pending)

    def keep_unexportable(self) -> None:
        """Keep the destination rows of core's rows with a NULL cursor (counted apart); one
        that cannot be staged is unwritable, and then no extra row is deleted."""
        created = self.staging.columns is None
        try:
            self.report.null_cursor = keep_unexportable(
                self.plan, self.staging, self.core, self.analytics
            )
        except UNSTAGEABLE as exc:
            if created:
                self.staging.columns = None
            cause = redact(first_line(exc))
            self.report.add("unwritable", 1, [f"a row with a NULL cursor: {cause}"])

    def remember_pending(self, window: q.Window) -> None:
        with self.analytics.transaction():
            staged = self.stage(window)
            self.report.pending += staged.read
            if not staged.nothing_written:
                self.analytics.execute(remember_keys_query(self.plan))

    def each_stageable(
        self, window: q.Window, rows: int, action: Callable[[q.Window], None]
    ) -> None:
        """``action(window)``; when a row in it cannot be staged, the same on each half,
        down to that row, which is reported as unwritable: the rest is still checked."""
        created = self.staging.columns is None
        try:
            action(window)
            return
        except UNSTAGEABLE as exc:
            if created:  # the staging table was made in the transaction that rolled back
                self.staging.columns = None
            cause = redact(first_line(exc))
        half = -(-rows // 2)
        mark, smaller = window.watermark, _with_range_size(self.plan, half)
        parts = list(ranges(self.core, smaller, window.lower, window.upper, mark))
        if rows > 1 and len(parts) > 1:
            for part in parts:
                self.each_stageable(part, half, action)
            return
        self.report.add("unwritable", 1, [f"{self.describe(window.upper)}: {cause}"])

    def describe(self, row: Position | None) -> str:
        """``at=..., id=...``: the row a one-row window ends at."""
        return self.plan.key_text(row.value if row else None, row.ids if row else None)

    def check_extra(self, repair: Repair | None) -> None:
        row = self.analytics.execute(extra_rows_query(self.plan)).fetchone()
        extra = int(row[0]) if row is not None else 0
        if row is not None and extra:
            self.report.add("extra", extra, list(row[1]))
        # An unwritable row's key was never seen: its destination row would look extra.
        if repair is not None and not self.report.counts["unwritable"]:
            # past the guard against mass deletion, with a run record
            delete = delete_extra_query(self.plan)
            run = self.analytics.execute
            repair.delete(self.analytics, self.plan, extra, lambda: run(delete).rowcount)


def ranges(
    core: Conn, plan: SyncPlan, lower: Position | None, upper: Position | None, mark: Watermark
) -> Iterator[q.Window]:
    """Consecutive windows of at most ``plan.batch_size`` rows from ``lower`` to ``upper``."""
    position = lower
    while True:
        probe = q.Window(lower=position, upper=upper, watermark=mark)
        # Ranges of every row, whatever source.where says: no row of it needs reading here.
        row = core.execute(q.batch_end(plan, probe, with_left_out=False)).fetchone()
        if row is None:
            return
        end = Position.from_key_text(row[0], row[1], len(plan.cursor_ids))
        yield q.Window(lower=position, upper=end, watermark=mark)
        position = end


def _with_range_size(plan: SyncPlan, range_size: int | None) -> SyncPlan:
    if range_size is None:
        return plan
    definition = plan.definition.model_copy(update={"batch_size": range_size})
    return dataclasses.replace(plan, definition=definition)


def _check_all(checker: _Checker, saved: Position | None, repair: Repair | None) -> None:
    plan, core = checker.plan, checker.core
    if saved is not None:
        mark = Watermark(value=saved.value, inclusive=True)
        for window in ranges(core, plan, None, saved, mark):
            checker.check_range(window, repair=repair is not None)
    newest = newest_cursor(core, plan)
    if newest is not None:
        for window in ranges(core, plan, saved, None, Watermark(value=newest, inclusive=True)):
            checker.collect_pending(window)
    checker.keep_unexportable()
    checker.report.left_out = keep_left_out(plan, core, checker.analytics)
    checker.check_extra(repair)


def verify(
    dbs: Databases,
    job: str,
    name: str,
    definition: ExportDefinition,
    *,
    repair: Repair | None = None,
    range_size: int | None = None,
) -> VerifyReport:
    """Compare ``name``'s destination with its source up to the saved position.

    With ``repair``, holds the definition's lock (LockHeldError while a run is
    busy) and makes the destination match, deleting extra rows only past the
    guard (MassDeleteError). Raises PreflightError like a run.
    """
    with planned(dbs, job, name, definition) as (plan, core, analytics):
        plan = _with_range_size(plan, range_size)
        report = VerifyReport(job=job, definition=name, destination=plan.destination.qualified)
        lock = definition_lock(analytics, job, name) if repair is not None else nullcontext()
        with lock:
            checker = _Checker(plan, core, analytics, report)
            analytics.execute(create_seen_query(plan))
            if plan.mode is not CopyMode.PYTHON:
                analytics.execute(vt.create_core_rows(plan))
            try:
                _check_all(checker, load_position(analytics, job, name), repair)
            finally:
                checker.staging.drop()
                if not analytics.broken:
                    analytics.execute(
                        sql.SQL("DROP TABLE IF EXISTS {}").format(q.ident(SEEN_TABLE))
                    )
        report.repaired = repair is not None
    return report
