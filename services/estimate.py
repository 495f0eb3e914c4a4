"""How many rows a run has ahead of it, from the planner's estimate: nothing is scanned."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from services import sql as q
from services.db import Databases
from services.definition import ExportDefinition
from services.errors import TablesyncError
from services.plan import SyncPlan
from services.position import Position, Watermark, load_position
from services.preflight import plan_definition

log = logging.getLogger(__name__)


def newest_cursor(core: psycopg.Connection[Any], plan: SyncPlan) -> str | None:
    """The largest cursor value in the source, as text (one index probe), or None when empty."""
    row = core.execute(
        sql.SQL("SELECT max({})::text FROM {}").format(
            q.ident(plan.cursor.name), q.ident(plan.source.schema, plan.source.name)
        )
    ).fetchone()
    return None if row is None else row[0]


def estimate_rows(core: psycopg.Connection[Any], plan: SyncPlan, window: q.Window) -> int:
    """The planner's row estimate for ``window`` (EXPLAIN, not a count): good to a factor."""
    query = sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE {}").format(
        q.ident(plan.source.schema, plan.source.name), q.window_predicate(plan, window)
    )
    row = core.execute(query).fetchone()
    if row is None:
        return 0
    document = row[0]
    return int(document[0]["Plan"]["Plan Rows"]) if document else 0


def estimate_pending(core: psycopg.Connection[Any], plan: SyncPlan, saved: Position | None) -> int:
    """About how many rows lie after ``saved``, up to the newest one in the source now."""
    newest = newest_cursor(core, plan)
    if newest is None:
        return 0
    window = q.Window(lower=saved, upper=None, watermark=Watermark(value=newest, inclusive=True))
    return estimate_rows(core, plan, window)


def pending_estimate(
    dbs: Databases, job: str, name: str, definition: ExportDefinition
) -> int | None:
    """About how many rows the next run of ``name`` reads, or None when it cannot tell.

    Never raises: a definition that fails its pre-flight is reported by the run itself.
    """
    try:
        with dbs.analytics.connection() as analytics, dbs.core.connection() as core:
            analytics.autocommit = core.autocommit = True
            plan = plan_definition(job, name, definition, core=core, analytics=analytics)
            return estimate_pending(core, plan, load_position(analytics, job, name))
    except (TablesyncError, psycopg.Error) as exc:
        log.debug("no progress estimate for %s: %s", name, exc)
        return None
