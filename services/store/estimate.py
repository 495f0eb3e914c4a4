"""How many rows a run has ahead of it: counted when few, else the planner's estimate."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import psycopg
from psycopg import sql

from services.base.db import Databases
from services.base.definition import ExportDefinition
from services.base.errors import TablesyncError
from services.base.position import Position, Watermark, load_position
from services.store import sql as q
from services.store.plan import SyncPlan
from services.store.preflight import plan_definition

log = logging.getLogger(__name__)

Counted = Literal["exact", "estimate"]

# Below this many rows a window is counted (cheap, exact); above, the planner guesses.
EXACT_BELOW = 1_000
# count_rows: past this many rows (as the planner expects them) an exact count could take
# a while on a big table, so the planner's estimate is given instead...
COUNT_MAX_ROWS = 100_000
# ...and an exact count still running after this long gives way to the estimate too.
COUNT_TIMEOUT_MS = 2_000
# A lazy estimate asked for while a run holds its connections waits this long
# for a spare one (parallel runs may hold them all), then goes without.
LAZY_WAIT_S = 1.0


def newest_cursor(core: psycopg.Connection[Any], plan: SyncPlan) -> str | None:
    """The largest cursor value in the source, as text (one index probe), or None when empty."""
    row = core.execute(
        sql.SQL("SELECT max({})::text FROM {}").format(
            q.ident(plan.cursor.name), q.ident(plan.source.schema, plan.source.name)
        )
    ).fetchone()
    return None if row is None else row[0]


def estimate_rows(core: psycopg.Connection[Any], plan: SyncPlan, window: q.Window) -> int:
    """About how many rows ``window`` holds: counted when fewer than EXACT_BELOW (a bounded
    index range), else the planner's estimate (EXPLAIN, not a count), good to a factor."""
    where = q.window_predicate(plan, window)
    source = q.ident(plan.source.schema, plan.source.name)
    counted = core.execute(
        sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT {}) AS few").format(
            source, where, sql.Literal(EXACT_BELOW)
        )
    ).fetchone()
    exact = int(counted[0]) if counted else 0
    if exact < EXACT_BELOW:
        return exact
    row = core.execute(
        sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE {}").format(source, where)
    ).fetchone()
    planned = int(row[0][0]["Plan"]["Plan Rows"]) if row and row[0] else 0
    return max(planned, exact)


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
    source = q.ident(plan.source.schema, plan.source.name)
    where = q.window_predicate(plan, window)
    explained = core.execute(
        sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE {}").format(source, where)
    ).fetchone()
    estimate = int(explained[0][0]["Plan"]["Plan Rows"]) if explained else 0
    if estimate > max_rows:
        return estimate, "estimate"
    try:
        with core.transaction():
            # A count of a never-exported table covers all of it, where the planner likes
            # a sequential scan; the cursor's index answers it without reading the table's
            # pages (the console counts every definition at every page view and scrape).
            # Both settings in one round trip, for this transaction only.
            core.execute(
                "SELECT set_config('statement_timeout', %s, true),"
                " set_config('enable_seqscan', 'off', true)",
                (str(timeout_ms),),
            )
            row = core.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(source, where)
            ).fetchone()
    except psycopg.errors.QueryCanceled:
        return estimate, "estimate"
    return (int(row[0]) if row else 0), "exact"


def estimate_pending(core: psycopg.Connection[Any], plan: SyncPlan, saved: Position | None) -> int:
    """About how many rows lie after ``saved``, up to the newest one in the source now."""
    newest = newest_cursor(core, plan)
    if newest is None:
        return 0
    window = q.Window(lower=saved, upper=None, watermark=Watermark(value=newest, inclusive=True))
    return estimate_rows(core, plan, window)


def pending_estimate(
    dbs: Databases,
    job: str,
    name: str,
    definition: ExportDefinition,
    *,
    wait_s: float | None = None,
) -> int | None:
    """About how many rows the next run of ``name`` reads, or None when it cannot tell.

    Never raises: a definition that fails its pre-flight is reported by the run itself.
    """
    try:
        with (
            dbs.analytics.connection(timeout=wait_s) as analytics,
            dbs.core.connection(timeout=wait_s) as core,
        ):
            analytics.autocommit = core.autocommit = True
            plan = plan_definition(job, name, definition, core=core, analytics=analytics)
            return estimate_pending(core, plan, load_position(analytics, job, name))
    except (TablesyncError, psycopg.Error) as exc:
        log.debug("no progress estimate for %s: %s", name, exc)
        return None


def lazy_estimate(
    dbs: Databases, job: str, name: str, definition: ExportDefinition
) -> Callable[[], int | None]:
    """``pending_estimate`` deferred until called, as services.reporting.progress totals take it.

    Called during a run, it waits at most LAZY_WAIT_S for a spare connection.
    """

    def estimate() -> int | None:
        return pending_estimate(dbs, job, name, definition, wait_s=LAZY_WAIT_S)

    return estimate
