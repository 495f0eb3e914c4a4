"""Deletes in a run: the guard's look ahead, its check per batch, and deletes by value.

Before the first batch, a run with soft deletes counts the flagged rows it is
about to read: at most that many destination rows can go. When that is more
than TABLESYNC_MAX_DELETE_FRACTION of the destination, and the key passes
unchanged, it counts instead which of their keys analytics holds; still too
many, and the run stops before writing anything (MassDeleteError, exit 1)
unless ``--yes``. Each batch's real deletes are checked again in its own
transaction (a transform's ``Delete`` cannot be counted ahead): the batch
that would cross the limit rolls back and the run stops there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from services.base import MassDeleteError, RunCounts
from services.store import DeleteGuard, DeleteLimit, SyncPlan
from services.store import delete_sql as d
from services.store import sql as q

Conn = psycopg.Connection[Any]
# Keys sent to analytics per query when counting or deleting by value.
KEYS_PER_QUERY = 10_000


def resume_hint(plan: SyncPlan) -> str:
    return f"run `python run_job.py {plan.job} {plan.name} --yes` to delete them"


def run_guard(plan: SyncPlan, limit: DeleteLimit) -> DeleteGuard:
    return DeleteGuard(plan, limit.fraction, allowed=limit.allowed)


def check_ahead(
    plan: SyncPlan, core: Conn, analytics: Conn, guard: DeleteGuard, window: q.Window
) -> None:
    """Refuse, before anything is written, a run whose soft-deleted rows would delete
    too much of the destination (MassDeleteError)."""
    if plan.definition.source.soft_delete is None or guard.allowed:
        return
    row = core.execute(d.count_flagged(plan, window)).fetchone()
    flagged = int(row[0]) if row else 0
    try:
        guard.check(analytics, deleting=flagged, hint=resume_hint(plan), up_to=True)
    except MassDeleteError:
        mapping = plan.definition.key_columns
        if mapping is None:  # a computed key: the flagged rows are the bound
            raise
        held = _held(plan, core, analytics, window, [mapping[k] for k in plan.keys])
        guard.check(analytics, deleting=held, hint=resume_hint(plan))


def _held(plan: SyncPlan, core: Conn, analytics: Conn, window: q.Window, columns: list[str]) -> int:
    """How many keys of the window's flagged rows analytics holds."""
    held = 0
    with core.transaction(), core.cursor(name="tablesync_flagged_keys") as keys:
        keys.execute(d.flagged_keys(plan, window, columns))
        while chunk := keys.fetchmany(KEYS_PER_QUERY):
            row = analytics.execute(d.count_held(plan), by_column(chunk)).fetchone()
            held += int(row[0]) if row else 0
    return held


def check_batch(
    plan: SyncPlan, analytics: Conn, guard: DeleteGuard, *, deleting: int, deleted: int
) -> None:
    """In the batch's transaction: MassDeleteError if its deletes cross the limit."""
    hint = resume_hint(plan)
    guard.check(analytics, deleting=deleting, deleted=deleted, hint=hint, applied=True)


def counts_after(
    plan: SyncPlan, analytics: Conn, guard: DeleteGuard, before: RunCounts, written: RunCounts
) -> RunCounts:
    """In the batch's (or chunk's) transaction: the run's counts with ``written`` added,
    once its deletes pass the guard (MassDeleteError rolls it back and stops the run).
    ``before`` is left as it is: a batch rolled back later is not counted."""
    if written.deleted:
        check_batch(plan, analytics, guard, deleting=written.deleted, deleted=before.deleted)
    counts = dataclasses.replace(before)
    counts.add(written)
    return counts


def by_column(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Rows of key values as one list per key column (the queries' arrays)."""
    return [list(column) for column in zip(*rows, strict=True)]


def delete_by_value(plan: SyncPlan, analytics: Conn, keys: list[tuple[Any, ...]]) -> int:
    """Delete ``keys`` (conflict column values, in plan.keys order); the rows deleted."""
    deleted = 0
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start : start + KEYS_PER_QUERY]
        deleted += analytics.execute(d.delete_keys(plan), by_column(chunk)).rowcount
    return deleted


def flagged_in_window(plan: SyncPlan, core: Conn, window: q.Window) -> list[tuple[Any, ...]]:
    """The keys (as text) of the window's soft-deleted rows, without a transform (with a
    select, as its expressions make them)."""
    rows = core.execute(d.flagged_keys(plan, window, q.key_values(plan))).fetchall()
    return [tuple(r) for r in rows]
