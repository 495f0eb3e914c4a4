"""Where a run's route (services/sync/route.py) comes from: the plan, the fast path's
probe of the destination and the worker count, put to ``choose_route``, at the start of
each attempt (``attempt_route``, with the staging table it lays out and the writer on
it) or for ``--dry-run`` (``planned_route``).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from services.base import ExportDefinition, Position, RunSettings
from services.store import SyncPlan
from services.sync.route import Route, choose_route
from services.sync.run.run_state import Run
from services.sync.write import BatchWriter, FastPath, Staging

log = logging.getLogger(__name__)
Conn = psycopg.Connection[Any]


def attempt_route(run: Run, position: Position | None) -> tuple[Route, Staging, BatchWriter]:
    """The attempt's route (services/sync/route.py), from the plan, the fast path's probe
    and the worker count; the staging table it lays out and the writer on it."""
    plan, backfill = run.plan, run.backfill
    if backfill is None:
        fast = FastPath(plan, run.analytics, full_load=position is None)
    else:
        fast = FastPath(plan, run.analytics, full_load=True, empty=backfill.into_empty)
    route = choose_route(
        plan,
        chunks=backfill is not None,
        incremental=position is not None,
        straight=fast.allowed(),
        workers=run.context.workers,
    )
    log.debug("%s: %s", plan.name, route)
    staging = Staging(plan, run.analytics, route.layout)
    return route, staging, BatchWriter(plan, run.core, run.analytics, staging, fast)


def worker_count_for(definition: ExportDefinition, settings: RunSettings) -> int:
    """Transform worker processes for a run of ``definition``; 0 without a transform."""
    if definition.transform is None:
        return 0
    from services.sync.transform import worker_count  # only a transform needs it

    configured = definition.transform_workers
    return worker_count(configured=configured, variable=settings.transform_workers)


def planned_route(
    plan: SyncPlan, analytics: Conn, settings: RunSettings, *, saved: bool, chunks: bool
) -> Route:
    """The route the next run would start on (``--dry-run``), its probe asked now: a run
    with a ``saved`` position goes on from it, one with ``chunks`` backfills."""
    fast = FastPath(plan, analytics, full_load=chunks or not saved)
    workers = worker_count_for(plan.definition, settings)
    return choose_route(
        plan, chunks=chunks, incremental=saved, straight=fast.allowed(), workers=workers
    )
