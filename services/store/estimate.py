"""How many rows a run has ahead of it: counted through the cursor's index within a time
budget (exact, or "at least" what the budget allowed), or the planner's estimate."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from services.base import (
    Databases,
    ExportDefinition,
    Position,
    TablesyncError,
    Watermark,
    load_position,
)
from services.store import sql as q
from services.store.plan import SyncPlan
from services.store.preflight import planned

log = logging.getLogger(__name__)

Counted = Literal["exact", "estimate"]

# count_rows: past this many rows (as the planner expects them) an exact count could take
# a while on a big table, so the planner's estimate is given instead...
COUNT_MAX_ROWS = 100_000
# ...and an exact count still running after this long gives way to the estimate too.
COUNT_TIMEOUT_MS = 2_000
# A progress total counts the run's window through the cursor's index for at most this long
# (the run's own display waits for it once); what it counted by then is a lower bound.
COUNT_BUDGET_MS = 300
# Counts tried in turn, each capped by a LIMIT: one that ends below its cap is exact, one
# that reaches it says "at least" that many; x10 steps redo at most ~11 % of the work.
COUNT_STEPS = (10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
# A lazy estimate asked for while a run holds its connections waits this long
# for a spare one (parallel runs may hold them all), then goes without.
LAZY_WAIT_S = 1.0


def newest_cursor(core: psycopg.Connection[Any], plan: SyncPlan) -> str | None:
    """The largest cursor value in the source, as text (one index probe), or None when empty."""
    row = core.execute(
        sql.SQL("SELECT max({})::text FROM {}").format(
            q.ident(plan.cursor.name), q.source_table(plan)
        )
    ).fetchone()
    return None if row is None else row[0]


def count_rows(
    core: psycopg.Connection[Any],
    plan: SyncPlan,
    window: q.Window,
    *,
    max_rows: int = COUNT_MAX_ROWS,
    timeout_ms: int = COUNT_TIMEOUT_MS,
) -> tuple[int, Counted]:
    """The rows ``window`` holds: counted when the planner expects at most ``max_rows`` and
    the count ends within ``timeout_ms``, else the planner's estimate; and which it is."""
    source = q.source_table(plan)
    where = q.window_predicate(plan, window)
    explained = core.execute(
        sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE {}").format(source, where)
    ).fetchone()
    estimate = int(explained[0][0]["Plan"]["Plan Rows"]) if explained else 0
    if estimate > max_rows:
        return estimate, "estimate"
    query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(source, where)
    try:
        return _indexed_count(core, query, timeout_ms), "exact"
    except psycopg.errors.QueryCanceled:
        return estimate, "estimate"


def _indexed_count(core: psycopg.Connection[Any], query: sql.Composed, timeout_ms: int) -> int:
    """``query``'s count in a transaction of its own, stopped after ``timeout_ms``
    (QueryCanceled) and kept off a sequential scan: a count of a never-exported window
    covers all of the table, where the planner likes a scan; the cursor's index answers it
    without reading the table's pages (the console counts every definition at every page
    view and scrape). Both settings in one round trip, for this transaction only."""
    with core.transaction():
        core.execute(
            "SELECT set_config('statement_timeout', %s, true),"
            " set_config('enable_seqscan', 'off', true)",
            (str(timeout_ms),),
        )
        row = core.execute(query).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class RowCount:
    """Rows counted in a window: all of them (``exact``) or at least ``rows``."""

    rows: int
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "exact": self.exact}


def count_window(
    core: psycopg.Connection[Any],
    plan: SyncPlan,
    window: q.Window,
    *,
    budget_ms: int = COUNT_BUDGET_MS,
    clock: Callable[[], float] = time.monotonic,
) -> RowCount | None:
    """The rows ``window`` holds, counted through the cursor's index for at most
    ``budget_ms``: exact when the count ended, else at least what a finished step counted;
    None when not even the first step fit. Never the planner's guess, which is off by
    any factor right after a bulk load (statistics not yet refreshed)."""
    source = q.source_table(plan)
    where = q.window_predicate(plan, window)
    deadline, found = clock() + budget_ms / 1000, None
    for cap in COUNT_STEPS:
        left_ms = int((deadline - clock()) * 1000)
        if left_ms <= 0:
            break
        few = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT {}) AS few")
        try:
            counted = _indexed_count(core, few.format(source, where, sql.Literal(cap)), left_ms)
        except psycopg.errors.QueryCanceled:
            break
        if counted < cap:
            return RowCount(counted, exact=True)
        found = RowCount(counted, exact=False)
    return found


def pending_window(
    core: psycopg.Connection[Any], plan: SyncPlan, saved: Position | None
) -> q.Window | None:
    """The rows after ``saved`` up to the newest one in the source now; None when empty."""
    newest = newest_cursor(core, plan)
    if newest is None:
        return None
    return q.Window(lower=saved, upper=None, watermark=Watermark(value=newest, inclusive=True))


SAVED: Literal["saved"] = "saved"  # count from the definition's saved position, whatever it is now


def pending_count(
    dbs: Databases,
    job: str,
    name: str,
    definition: ExportDefinition,
    *,
    after: Position | None | Literal["saved"] = SAVED,
    wait_s: float | None = None,
    budget_ms: int = COUNT_BUDGET_MS,
) -> RowCount | None:
    """The rows of ``name`` after ``after`` (by default its saved position) up to the
    newest in core, by ``count_window``; None when it cannot tell.

    Never raises: a definition that fails its pre-flight is reported by the run itself.
    """
    try:
        with planned(dbs, job, name, definition, wait_s=wait_s) as (plan, core, analytics):
            start = load_position(analytics, job, name) if isinstance(after, str) else after
            window = pending_window(core, plan, start)
            if window is None:
                return RowCount(0, exact=True)
            return count_window(core, plan, window, budget_ms=budget_ms)
    except (TablesyncError, psycopg.Error) as exc:
        log.debug("no progress total for %s: %s", name, exc)
        return None


def lazy_count(
    dbs: Databases, job: str, name: str, definition: ExportDefinition
) -> Callable[[], RowCount | None]:
    """``pending_count`` deferred until called, as services.reporting.progress totals take it.

    Called during a run, it waits at most LAZY_WAIT_S for a spare connection.
    """

    def count() -> RowCount | None:
        return pending_count(dbs, job, name, definition, wait_s=LAZY_WAIT_S)

    return count
