"""The engine: sync one definition from core into analytics, batch by batch.

Each batch is read in cursor order strictly after the saved position and up to
the run's watermark, staged with COPY, upserted, and committed together with
the new position and the run record's counts, so a crash at any instant
leaves the destination and the position in agreement.

This module is the story of a run: take the lock and open the run record
(services/sync/run/run_state.py), fix the watermark, then commit batches until
none is left (``_commit_batches``), or a backfill's chunks
(services/sync/backfill/chunk_loop.py). A lost connection is ridden out: the run
reconnects and goes on from its last committed batch or chunk
(``_sync_resuming``, services/sync/run/resume.py). A signal stops it between
batches, its queries in flight cancelled (services/base/stopping.py). Where
each batch comes from is services/sync/read/batch_sources.py, how it is written
services/sync/write/batch_writer.py, whether it goes straight into an empty
destination services/sync/write/fast_path.py.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from contextlib import ExitStack, closing
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from services.base import (
    Databases,
    ExportDefinition,
    Position,
    RunError,
    RunResult,
    RunSettings,
    RunStatus,
    StoppedError,
    TablesyncError,
    first_line,
    kill_point,
    redact,
    save_position,
    stopping,
)
from services.store import Backfill, DeleteLimit, SyncPlan, finish_run, record_progress
from services.store import sql as q
from services.sync.backfill import ChunkWindows, commit_chunks
from services.sync.read import (
    BatchSources,
    Windows,
    WindowSource,
    compute_watermark,
    null_cursor_rows,
)
from services.sync.route import Route, choose_route, worker_count_for
from services.sync.run.resume import ResumePolicy, Resumes, lost_databases, resumable_cause
from services.sync.run.run_session import connection_lost, watched_connection
from services.sync.run.run_state import Run, begin, reconnect
from services.sync.write import (
    BatchWriter,
    FastPath,
    Staging,
    check_ahead,
    counts_after,
    write_on_route,
)

log = logging.getLogger(__name__)

# How long a failed run may wait for a fresh analytics connection to record its end.
RECORD_TIMEOUT_S = 5.0

ProgressCallback = Callable[[RunResult], None]
Conn = psycopg.Connection[Any]


def process_definition(
    job: str,
    name: str,
    definition: ExportDefinition,
    dbs: Databases,
    *,
    settings: RunSettings,
    command: str = "",
    progress: ProgressCallback | None = None,
    deletes: DeleteLimit | None = None,
) -> RunResult:
    """Sync ``definition`` once; returns the result or raises a TablesyncError.

    ``settings`` are the run-time variables, read once by the caller; their
    ``origin`` goes into the run record: what started the run (``cli``, ``console``).

    A raised error carries the result as ``error.result`` so the caller can
    report counts of a failed run. ``deletes`` bounds what the run may delete
    (default: TABLESYNC_MAX_DELETE_FRACTION, no ``--yes``).
    """
    deletes = DeleteLimit(settings.max_delete_fraction) if deletes is None else deletes
    result = RunResult(
        job=job,
        definition=name,
        started_at=time.time(),
        host=socket.gethostname(),
        pid=os.getpid(),
        cursor_field=definition.source.cursor.field,
        id_field=definition.source.cursor.id_field,
    )
    workers = worker_count_for(definition, settings)
    resumes = Resumes(ResumePolicy.of(settings))
    dbs.open()  # both databases at once, not one after the other
    # The run's connections and lock, and those a resume takes, until the run ends.
    with ExitStack() as held:
        run, saved = begin(dbs, definition, result, held, resumes, command, settings, deletes)
        _run_recorded(dbs, run, saved, workers=workers, progress=progress)
    return result


def _run_recorded(
    dbs: Databases,
    run: Run,
    saved: Position | None,
    *,
    workers: int,
    progress: ProgressCallback | None,
) -> None:
    """The run, and its end in its run record whatever happens; a failure is raised."""
    result = run.result
    try:
        _sync_resuming(dbs, run, saved, workers=workers, progress=progress)
    except BaseException as exc:
        error = _fail(dbs, run, exc)
        status = RunStatus.CANCELLED if isinstance(error, StoppedError) else RunStatus.FAILED
        result.status, result.finished_at = status, time.time()
        result.exit_code = error.exit_code
        _finish(dbs, run, status, result.error)
        error.result = result
        if error is exc:
            raise
        raise error from exc
    result.status, result.finished_at = RunStatus.SUCCEEDED, time.time()
    _finish(dbs, run, RunStatus.SUCCEEDED, None)


def _sync_resuming(
    dbs: Databases,
    run: Run,
    saved: Position | None,
    *,
    workers: int,
    progress: ProgressCallback | None,
) -> None:
    """``_sync``, and after each lost connection it may ride out, the same again from the
    last committed batch on fresh connections (services/sync/run/resume.py)."""
    position, delay = saved, None
    while True:
        try:
            if delay is not None:
                stopping.sleep(delay)
                position = reconnect(dbs, run)
            _attempt(dbs, run, position, workers=workers, progress=progress)
            return
        except Exception as exc:
            cause = resumable_cause(exc, lost_databases(core=run.core, analytics=run.analytics))
            delay = None if cause is None else run.resumes.next_delay(run.plan.name, cause)
            if delay is None or stopping.requested():
                raise
            run.result.resumes = run.resumes.taken


def _attempt(
    dbs: Databases,
    run: Run,
    position: Position | None,
    *,
    workers: int,
    progress: ProgressCallback | None,
) -> None:
    """``_sync`` (or a backfill's ``_sync_chunks``) on the run's connections as they are
    now: a signal cancels their queries."""
    backfill = run.backfill
    staging: Staging | None = None
    try:
        with ExitStack() as attempt:
            if backfill is None:
                attempt.enter_context(stopping.cancellable(run.core, run.analytics))
                # Decided under the cancel: the fast path's probe may wait on a lock.
                route, staging, writer = _decide_route(run, position, workers)
                _sync(run, route, writer, position, dbs=dbs, progress=progress)
            elif not backfill.finished:
                # Chunks are claimed on a connection of their own (backfill_run.py).
                claims = watched_connection(
                    dbs.analytics, attempt, name="analytics", stall_s=dbs.timeouts.stall_s
                )
                attempt.enter_context(stopping.cancellable(run.core, run.analytics, claims))
                route, staging, writer = _decide_route(run, position, workers)
                _sync_chunks(run, route, writer, backfill, claims, dbs, progress)
    finally:
        if staging is not None:
            staging.drop()


def _decide_route(
    run: Run, position: Position | None, workers: int
) -> tuple[Route, Staging, BatchWriter]:
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
        workers=workers,
    )
    log.debug("%s: %s", plan.name, route)
    staging = Staging(plan, run.analytics, route.layout)
    return route, staging, BatchWriter(plan, run.core, run.analytics, staging, fast)


def _sync(
    run: Run,
    route: Route,
    writer: BatchWriter,
    saved: Position | None,
    *,
    dbs: Databases,
    progress: ProgressCallback | None,
) -> None:
    """Fix the run's watermark, then commit batches up to it, read the route's way."""
    plan, core, analytics, result = run.plan, run.core, run.analytics, run.result
    _count_unexportable(run)
    watermark = compute_watermark(
        core,
        plan,
        saved,
        safety_lag_s=plan.definition.safety_lag_s,
        wait_s=run.settings.writer_wait_for(plan.definition.writer_wait_s),
    )
    result.held_back = watermark.held_back
    ahead = q.Window(lower=saved, upper=None, watermark=watermark)
    check_ahead(plan, core, analytics, run.guard, ahead)  # soft deletes: before any write
    windows = Windows(plan, core, watermark)
    with closing(_sources(run, windows, route, writer, dbs=dbs)) as sources:
        _commit_batches(run, route, sources, writer, saved, progress)


def _sync_chunks(
    run: Run,
    route: Route,
    writer: BatchWriter,
    backfill: Backfill,
    claims: Conn,
    dbs: Databases,
    progress: ProgressCallback | None,
) -> None:
    """This runner's share of a backfill: chunks claimed and committed until none is left."""
    plan, core, analytics, result = run.plan, run.core, run.analytics, run.result
    _count_unexportable(run)
    windows = ChunkWindows(plan, core, claims, backfill)
    try:
        with closing(_sources(run, windows, route, writer, dbs=dbs)) as sources:
            commit_chunks(
                plan, analytics, windows, route, sources, writer, result, run_id=run.run_id,
                guard=run.guard, progress=progress,
            )  # fmt: skip
    finally:
        windows.release_all()


def _count_unexportable(run: Run) -> None:
    """Rows the run cannot export (a NULL cursor), counted in its result, not exported."""
    run.result.counts.null_cursor = null_cursor_rows(run.core, run.plan)


def _sources(
    run: Run, windows: WindowSource, route: Route, writer: BatchWriter, *, dbs: Databases
) -> BatchSources:
    """The run's batch sources over ``windows``: cursor batches or a backfill's chunks."""
    return BatchSources(
        windows,
        route,
        columns=writer.columns,
        connect_core=dbs.connect_core,
        stall_s=dbs.timeouts.stall_s,
        encoding=run.analytics.info.encoding,
        result=run.result,
    )


def _commit_batches(
    run: Run,
    route: Route,
    sources: BatchSources,
    writer: BatchWriter,
    saved: Position | None,
    progress: ProgressCallback | None,
) -> None:
    """Write each batch and commit it with its position and the run's counts, in order; a
    batch refused on its route is written again on the route after it (write_on_route),
    which the batches after it take."""
    plan, analytics, result = run.plan, run.analytics, run.result
    position = saved
    while True:
        stopping.check()  # asked to stop: nothing is in flight between two batches
        if (batch := sources.next(position)) is None:
            return
        result.failed_batch = batch.edges()
        with stopping.committing(analytics) as commit, analytics.transaction():
            written, route = write_on_route(writer, sources, batch, route)
            counts = counts_after(plan, analytics, run.guard, result.counts, written)
            commit.begin()  # written: a stop asked from here on lets the batch finish
            _check_moved(plan, position, batch.end_position)  # a keyset batch's end: once written
            save_position(analytics, plan.job, plan.name, batch.end_position)
            record_progress(analytics, run.run_id, counts, batch.end_position)
            kill_point("commit")
        kill_point("committed")
        run.batches_committed += 1
        position = batch.end_position
        result.counts = counts  # only now: a batch rolled back is not counted
        result.position_after, result.failed_batch = position.to_dict(), None
        if progress is not None:
            progress(result)


def _check_moved(plan: SyncPlan, position: Position | None, end: Position) -> None:
    if end == position:
        # Only a cursor whose text form does not round-trip could do this;
        # looping on the same batch forever would hide it.
        raise RunError(
            f"{plan.name}: the position did not move past {end.value!r}: the cursor"
            f" column's type ({plan.cursor.type_name}) does not round-trip through text"
        )


def _finish(
    dbs: Databases, run: Run, status: RunStatus, error: str | None, *, note: str | None = None
) -> None:
    try:
        with ExitStack() as fresh:
            target = run.analytics
            if connection_lost(target):  # after an outage the run's own connection is dead
                stall_s = dbs.timeouts.stall_s
                target = watched_connection(
                    dbs.analytics,
                    fresh,
                    name="analytics",
                    stall_s=stall_s,
                    timeout=RECORD_TIMEOUT_S,
                )
            finish_run(
                target,
                run.run_id,
                status=status,
                counts=run.result.counts,
                position=Position.from_dict(run.result.position_after),
                error=error,
                note=note,
                resumes=run.result.resumes,
            )
    except (psycopg.Error, PoolTimeout) as exc:
        # The run's own outcome matters more than its record; the next run
        # will mark this one abandoned.
        log.warning("could not close run record %s: %s", run.run_id, redact(first_line(exc)))


def _fail(dbs: Databases, run: Run, exc: BaseException) -> TablesyncError:
    from services.sync.run.run_failure import classify, report_failure  # only a failed run needs it

    error = classify(
        dbs,
        run.plan,
        exc,
        batches_committed=run.batches_committed,
        rows_committed=run.result.counts.read,  # counted only once committed
        backfill=run.backfill is not None,
        lost=lost_databases(core=run.core, analytics=run.analytics),
        resumes=run.result.resumes,
        failed_batch=run.result.failed_batch,
    )
    return report_failure(dbs, run.plan, run.result, error, failures_dir=run.settings.failures_dir)
