"""How a run takes its definition's lock: alone for an incremental run, shared for a backfill.

A run first tries the lock exclusively. Holding it, it marks dead runs
abandoned, then looks at the definition's state: with a saved position and no
backfill under way it runs incrementally, still alone. Without a position (a
first load, a ``--reset``, a ``--full-refresh`` build) it plans a backfill, or
finds one that runners killed earlier left unfinished, and turns its lock to
shared: from then on other runs of the definition join it.

A run that finds the lock taken joins a backfill under way (shared lock,
services/store/lock.py), waiting up to TABLESYNC_BACKFILL_JOIN_WAIT_S
(default 15) for one that is being planned; otherwise it exits 75 as before.
So two incremental runs still never overlap, an incremental run never starts
while chunks are being written, and any number of runners share a backfill.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from services.base import Position, RunSettings, load_position
from services.store import (
    Backfill,
    SyncPlan,
    abandon_dead_runs,
    chunks,
    downgrade_lock,
    lock_held,
    release_exclusive,
    release_shared,
    try_lock,
    try_shared_lock,
)
from services.sync.backfill import plan_backfill, why_not_backfill

Conn = psycopg.Connection[Any]

_POLL_S = 0.2


@dataclass(frozen=True)
class StartingPoint:
    """What the run holding the lock is to do: its backfill's chunks, or batches after
    ``saved`` (``backfill`` None)."""

    saved: Position | None
    backfill: Backfill | None


def unfinished_backfill(analytics: Conn, job: str, name: str) -> Backfill | None:
    found = chunks.load_backfill(analytics, job, name)
    return None if found is None or found.finished else found


@contextmanager
def run_lock(
    core: Conn, analytics: Conn, plan: SyncPlan, settings: RunSettings
) -> Iterator[StartingPoint]:
    """Hold ``plan``'s lock in the mode the run needs while it runs; raises LockHeldError
    (exit 75) when neither mode can be had. The lock dies with ``analytics``."""
    job, name = plan.job, plan.name
    if not try_lock(analytics, job, name):
        backfill = join_backfill(core, analytics, plan, settings)
        try:
            yield StartingPoint(saved=None, backfill=backfill)
        finally:
            release_shared(analytics, job, name)
        return
    shared = False
    try:
        abandon_dead_runs(analytics, job, name)  # alone: every running record is a dead run's
        start = _start_alone(core, analytics, plan, settings)
        if start.backfill is not None:
            downgrade_lock(analytics, job, name)
            shared = True
        yield start
    finally:
        (release_shared if shared else release_exclusive)(analytics, job, name)


def _start_alone(
    core: Conn, analytics: Conn, plan: SyncPlan, settings: RunSettings
) -> StartingPoint:
    """Under the exclusive lock: an unfinished backfill to go on with, a new one, or none."""
    saved = load_position(analytics, plan.job, plan.name)
    backfill = unfinished_backfill(analytics, plan.job, plan.name)
    if backfill is None and saved is None and why_not_backfill(plan, core, settings) is None:
        backfill = plan_backfill(core, analytics, plan, settings)
    return StartingPoint(saved=saved if backfill is None else None, backfill=backfill)


def join_backfill(core: Conn, analytics: Conn, plan: SyncPlan, settings: RunSettings) -> Backfill:
    """The backfill under way, joined with the shared lock; LockHeldError when there is
    none to join (an incremental run holds the lock) or none appeared in time."""
    job, name = plan.job, plan.name
    deadline = time.monotonic() + settings.backfill_join_wait_s
    while True:
        backfill = unfinished_backfill(analytics, job, name)
        if backfill is not None and try_shared_lock(analytics, job, name):
            # Re-read with the lock held: the last chunk may have handed over meanwhile.
            backfill = unfinished_backfill(analytics, job, name)
            if backfill is not None:
                return backfill
            release_shared(analytics, job, name)
            raise lock_held(job, name)
        # No backfill and a position, or none possible: the holder runs incrementally.
        planning = load_position(analytics, job, name) is None
        if backfill is None and not (planning and why_not_backfill(plan, core, settings) is None):
            raise lock_held(job, name)
        if time.monotonic() >= deadline:
            raise lock_held(job, name)
        time.sleep(_POLL_S)
