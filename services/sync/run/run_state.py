"""A run's state, and how it comes by it: ``RunContext`` is what the run is given for its
whole length; ``begin`` checks the definition, takes its lock
in the mode the run needs (services/sync/run/run_lock.py) and opens its run record;
``reconnect`` takes fresh connections for lost ones after a lost connection
(services/sync/run/resume.py says when) and reads back what the run's committed
batches or chunks left: its counts, its position, whether its backfill is over.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from services.base import (
    Databases,
    ExportDefinition,
    Position,
    PreflightError,
    RunResult,
    RunSettings,
    TransientError,
    first_line,
    load_position,
    redact,
    stopping,
)
from services.store import (
    Backfill,
    DeleteGuard,
    DeleteLimit,
    SyncPlan,
    committed_counts,
    plan_definition,
    record_resumes,
    start_run,
)
from services.store import sql as q
from services.sync.run.refusal import record_refused
from services.sync.run.resume import ResumePolicy, Resumes, lost_databases, resumable_cause
from services.sync.run.run_lock import run_lock, unfinished_backfill
from services.sync.run.run_session import replace_lost_connections, watched_connection
from services.sync.write import run_guard

Conn = psycopg.Connection[Any]


ProgressCallback = Callable[[RunResult], None]


@dataclass(frozen=True)
class RunContext:
    """What a run is given and keeps for its whole length: the two pools, the run-time
    variables read once by the command line, its transform workers, whom it tells of its
    progress, what started it (for its record) and how much it may delete."""

    dbs: Databases
    settings: RunSettings
    workers: int = 0  # transform worker processes (services/sync/route.py, worker_count_for)
    progress: ProgressCallback | None = None
    command: str = ""
    deletes: DeleteLimit | None = None  # None: TABLESYNC_MAX_DELETE_FRACTION, no --yes

    @property
    def delete_limit(self) -> DeleteLimit:
        if self.deletes is not None:
            return self.deletes
        return DeleteLimit(self.settings.max_delete_fraction)


@dataclass
class Run:
    """One definition's run: what it was given, its connections (new ones after a lost
    one), its record, and how far it got."""

    context: RunContext
    plan: SyncPlan
    core: Conn
    analytics: Conn
    result: RunResult
    run_id: int
    guard: DeleteGuard  # against deleting too much of the destination in one run
    held: ExitStack  # its connections and lock, and those its resumes take
    resumes: Resumes
    batches_committed: int = 0
    backfill: Backfill | None = None  # chunks in heap order instead of cursor batches
    # The batch or chunk being written, until it commits: the run's failure names it.
    in_flight: q.Window | None = None

    @property
    def settings(self) -> RunSettings:
        return self.context.settings

    @property
    def dbs(self) -> Databases:
        return self.context.dbs


def new_result(job: str, name: str, definition: ExportDefinition) -> RunResult:
    """The result of a run of ``definition`` starting now, in this process."""
    cursor = definition.source.cursor
    return RunResult(
        job=job,
        definition=name,
        started_at=time.time(),
        host=socket.gethostname(),
        pid=os.getpid(),
        cursor_field=cursor.field,
        id_field=cursor.id_field,
    )


def begin(
    context: RunContext, definition: ExportDefinition, result: RunResult, held: ExitStack
) -> tuple[Run, Position | None]:
    """Check the definition, take its lock and open its run record; a connection lost on
    the way is tried again, as a resume (nothing is written yet)."""
    dbs, settings, command = context.dbs, context.settings, context.command
    resumes = Resumes(ResumePolicy.of(settings))
    job, name = result.job, result.definition
    while True:
        taken: dict[str, Conn] = {}
        try:
            with ExitStack() as attempt:
                for role in ("analytics", "core"):
                    pool = dbs.analytics if role == "analytics" else dbs.core
                    taken[role] = watched_connection(
                        pool, attempt, name=role, stall_s=dbs.timeouts.stall_s
                    )
                analytics, core = taken["analytics"], taken["core"]
                try:
                    plan = plan_definition(job, name, definition, core=core, analytics=analytics)
                except PreflightError as refused:  # still a run (rule 18): it leaves a record
                    record_refused(
                        analytics, result, refused, command=command, origin=settings.origin
                    )
                    raise
                # Alone for an incremental run; shared with the other runners of a backfill.
                start = attempt.enter_context(run_lock(core, analytics, plan, settings))
                saved = start.saved
                run_id = _start_run(analytics, result, saved, command, settings.origin)
                held.enter_context(attempt.pop_all())
        except (psycopg.Error, PoolTimeout) as exc:
            cause = resumable_cause(exc, lost_databases(**taken))
            delay = None if cause is None else resumes.next_delay(name, cause)
            if delay is None or stopping.requested():
                raise TransientError(f"{name}: {cause or redact(first_line(exc))}") from None
            result.resumes = resumes.taken
            stopping.sleep(delay)
            continue
        result.position_before = result.position_after = None if saved is None else saved.to_dict()
        guard = run_guard(plan, context.delete_limit)
        run = Run(
            context, plan, core, analytics, result, run_id, guard, held, resumes,
            backfill=start.backfill,
        )  # fmt: skip
        return run, saved


def _start_run(
    analytics: Conn, result: RunResult, saved: Position | None, command: str, origin: str
) -> int:
    result.run_id = start_run(analytics, result.identity(command, origin), saved)
    return result.run_id


def reconnect(run: Run) -> Position | None:
    """Fresh connections for those lost (the lock again with analytics); the position and
    counts as the run's committed batches left them."""
    plan = run.plan
    run.core, run.analytics = replace_lost_connections(
        run.dbs,
        run.held,
        run.core,
        run.analytics,
        job=plan.job,
        definition=plan.name,
        shared=run.backfill is not None,
    )
    # A commit whose answer was lost may have happened: the database says.
    null_cursor = run.result.counts.null_cursor
    run.result.counts = committed_counts(run.analytics, run.run_id)
    run.result.counts.null_cursor = null_cursor
    record_resumes(run.analytics, run.run_id, run.result.resumes)
    if run.backfill is not None:  # its last chunk may have handed over meanwhile
        run.backfill = unfinished_backfill(run.analytics, plan.job, plan.name) or (
            dataclasses.replace(run.backfill, finished=True)
        )
    position = load_position(run.analytics, plan.job, plan.name)
    run.result.position_after = None if position is None else position.to_dict()
    return position
