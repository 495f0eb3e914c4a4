"""Replay, reset and skip: move a definition's saved position, recorded as a run.

``--reset`` goes back to the start; ``--from VALUE [--from-id ID]...`` moves to
just before the first row at or after that key (one ``--from-id`` per id_field
column in order, or the first few of them), so the next run exports
exactly the rows at and after it. Back from the saved position it is a replay
(upserts: rows already there are rewritten or counted as skipped, nothing is
duplicated); past it, a skip: the rows in between are never exported, and the
plan says how many (counted when cheap, else the planner's estimate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.base import (
    ConfigurationError,
    Databases,
    ExportDefinition,
    Position,
    RunCounts,
    RunIdentity,
    Watermark,
    load_position,
    save_position,
)
from services.store import (
    Column,
    Counted,
    SyncPlan,
    count_rows,
    definition_lock,
    forget_backfill,
    planned,
    record_operation,
)
from services.store import sql as q


@dataclass(frozen=True)
class ResetPlan:
    """Where a definition's position is and where a reset would put it."""

    job: str
    name: str
    before: Position | None
    after: Position | None
    description: str  # e.g. "replay from updatedAt >= 2026-01-01 00:00:00+00"
    # A move past the saved position: the rows it skips, never exported (0: none).
    skipped: int = 0
    skipped_counted: Counted = "exact"

    @property
    def action(self) -> str:
        """``reset``, ``replay`` (a move back) or ``skip`` (a move forward)."""
        return self.description.split(" ", 1)[0]

    def skipped_text(self) -> str:
        about = "" if self.skipped_counted == "exact" else "about "
        return f"{about}{self.skipped:,} row(s) never exported"

    def lines(self) -> list[str]:
        lines = [
            f"{self.name}: {self.description}",
            f"  saved position now: {_show(self.before)}",
            f"  saved position after: {_show(self.after)}",
        ]
        if self.action == "skip":
            counted = "counted" if self.skipped_counted == "exact" else "the planner's estimate"
            lines.append(f"  skips {self.skipped_text()} ({counted}): no run will export them")
        return lines


@dataclass(frozen=True)
class ResetDone:
    """A saved position moved under the definition's lock, and its run record."""

    planned: ResetPlan
    before: Position | None  # as found under the lock
    note: str  # what the run record says
    run_id: int

    def line(self) -> str:
        then = "The next run re-exports from there."
        if self.planned.action == "skip":
            then = "The next run exports from there."
        return f"{self.planned.name}: {self.note}; run record {self.run_id}. {then}"

    def to_dict(self) -> dict[str, Any]:
        planned = self.planned
        return {
            "definition": planned.name,
            "action": planned.action,
            "position_before": None if self.before is None else self.before.to_dict(),
            "position_after": None if planned.after is None else planned.after.to_dict(),
            "rows_skipped": planned.skipped,
            "rows_skipped_counted": planned.skipped_counted,
            "run_id": self.run_id,
        }


def _show(position: Position | None) -> str:
    if position is None:
        return "none (the start)"
    ids = ", ".join(position.ids)
    return position.value if not ids else f"{position.value}, id {ids}"


def _typed(value: str, type_name: str) -> sql.Composable:
    return sql.SQL("CAST({} AS {})").format(sql.Literal(value), sql.SQL(type_name))


def row_before_query(plan: SyncPlan, value: str, ids: tuple[str, ...]) -> sql.Composed:
    """The key (as text) of the last exportable row strictly before (value, ids...), where
    ``ids`` are the first values of the tie-breaker's columns (none: the cursor alone)."""
    columns = [plan.cursor, *plan.cursor_ids[: len(ids)]]
    key = q.column_list([c.name for c in columns])
    bound = sql.SQL(", ").join(
        _typed(v, c.type_name) for v, c in zip((value, *ids), columns, strict=True)
    )
    not_null = sql.SQL(" AND ").join(
        sql.SQL("{} IS NOT NULL").format(q.ident(n)) for n in plan.key_names
    )
    return sql.SQL("SELECT {} FROM {} WHERE {} AND ({}) < ({}) ORDER BY {} LIMIT 1").format(
        q.key_as_text(plan),
        q.source_table(plan),
        not_null,
        key,
        bound,
        q.order_by(plan, descending=True),
    )


def _check_cast(
    core: psycopg.Connection[Any], plan: SyncPlan, option: str, text: str, column: Column
) -> None:
    """ConfigurationError naming ``option`` when ``text`` is not a value of ``column``'s type."""
    try:
        core.execute(sql.SQL("SELECT {}").format(_typed(text, column.type_name)))
    except psycopg.DataError as exc:
        raise ConfigurationError(
            f"{plan.name}: {option} {text!r} is not a valid {column.type_name} for"
            f" {plan.source.qualified}.{column.name} ({exc.diag.message_primary})"
        ) from None


def position_before(
    core: psycopg.Connection[Any], plan: SyncPlan, value: str, ids: tuple[str, ...] = ()
) -> Position | None:
    """The position whose next run starts at (value, ids...); None when that is the start."""
    if ids and not plan.cursor_ids:
        raise ConfigurationError(f"{plan.name}: --from-id needs a cursor id_field; it has none")
    if len(ids) > len(plan.cursor_ids):
        raise ConfigurationError(
            f"{plan.name}: {len(ids)} --from-id values for id_field {list(plan.id_names)}:"
            f" give at most {len(plan.cursor_ids)}, one per column in order"
        )
    _check_cast(core, plan, "--from", value, plan.cursor)
    for text, column in zip(ids, plan.cursor_ids, strict=False):
        _check_cast(core, plan, "--from-id", text, column)
    row = core.execute(row_before_query(plan, value, ids)).fetchone()
    return None if row is None else Position.from_key_text(row[0], row[1], len(plan.cursor_ids))


def rows_skipped(
    core: psycopg.Connection[Any], plan: SyncPlan, before: Position | None, after: Position | None
) -> tuple[int, Counted]:
    """The rows past ``before`` up to ``after``, which a move from one to the other skips
    (none when ``after`` is not past ``before``)."""
    if after is None:
        return 0, "exact"
    # after is an exported row's key, so the window (before, after] is empty unless it
    # lies past before; the watermark bounds nothing more than the window's end.
    mark = Watermark(value=after.value, inclusive=True)
    return count_rows(core, plan, q.Window(lower=before, upper=after, watermark=mark))


def plan_reset(
    dbs: Databases,
    job: str,
    name: str,
    definition: ExportDefinition,
    *,
    from_value: str | None,
    from_ids: tuple[str, ...] = (),
) -> ResetPlan:
    """Pre-flight ``name`` and work out the new position; writes nothing."""
    with planned(dbs, job, name, definition) as (plan, core, analytics):
        before = load_position(analytics, job, name)
        if from_value is None:
            return ResetPlan(job, name, before, None, "reset to the start: replay every row")
        after = position_before(core, plan, from_value, from_ids)
        skipped, counted = rows_skipped(core, plan, before, after)
    key = f"{plan.cursor.name} >= {from_value}"
    if from_ids:
        names = ", ".join(plan.key_names[: 1 + len(from_ids)])
        key = f"({names}) >= ({', '.join((from_value, *from_ids))})"
    if skipped:
        return ResetPlan(job, name, before, after, f"skip forward to {key}", skipped, counted)
    return ResetPlan(job, name, before, after, f"replay from {key}")


def apply_reset(dbs: Databases, planned: ResetPlan, *, command: str) -> ResetDone:
    """Save the new position under the definition's lock, with a run record saying so.

    Raises LockHeldError (exit 75) while a run of the definition is busy.
    """
    job, name = planned.job, planned.name
    with dbs.analytics.connection() as analytics:
        analytics.autocommit = True
        with definition_lock(analytics, job, name), analytics.transaction():
            before = load_position(analytics, job, name)
            save_position(analytics, job, name, planned.after)
            # A backfill left unfinished would hand over on top of this position later.
            forget_backfill(analytics, job, name)
            note = _note(planned, before)
            run_id = record_operation(
                analytics,
                RunIdentity(job, name, command),
                before=before,
                after=planned.after,
                counts=RunCounts(),
                note=note,
            )
    return ResetDone(planned, before, note, run_id)


def _note(planned: ResetPlan, before: Position | None) -> str:
    skipped = f"; {planned.skipped_text()} skipped" if planned.skipped else ""
    return f"{planned.description}{skipped} (position was {_show(before)})"
