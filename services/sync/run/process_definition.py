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
(``sync_resuming``, services/sync/run/resume.py). A signal stops it between
batches, its queries in flight cancelled (services/base/stopping.py). Where
each batch comes from is services/sync/read/batch_sources.py, how it is written
services/sync/write/batch_writer.py, on which route services/sync/run/route_choice.py.

The run carries what it was given (``RunContext``, services/sync/run/run_state.py),
so each step takes the run; the batch and chunk loops yield the window they write and
what committed (services/sync/write/committed.py), which ``_keep`` puts on the run's
result: only the run (this room) writes into it, never a reader, writer or loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
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
from services.store import (
    Backfill,
    DeleteLimit,
    Progress,
    SyncPlan,
    finish_run,
    record_progress,
)
from services.store import sql as q
from services.sync.backfill import ChunkWindows, commit_chunks
from services.sync.read import BatchSources, compute_watermark, null_cursor_rows
from services.sync.route import Route
from services.sync.run.resume import lost_databases, resumable_cause
from services.sync.run.route_choice import attempt_route, worker_count_for
from services.sync.run.run_session import connection_lost, watched_connection
from services.sync.run.run_state import (
    ProgressCallback,
    Run,
    RunContext,
    begin,
    new_result,
    reconnect,
)
from services.sync.windows import Windows, WindowSource
from services.sync.write import (
    BatchWriter,
    Committed,
    LoopStep,
    Staging,
    check_ahead,
    counts_after,
    write_on_route,
)

log = logging.getLogger(__name__)

# How long a failed run may wait for a fresh analytics connection to record its end.
RECORD_TIMEOUT_S = 5.0

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
    workers = worker_count_for(definition, settings)
    context = RunContext(dbs, settings, workers, progress, command, deletes)
    result = new_result(job, name, definition)
    dbs.open()  # both databases at once, not one after the other
    # The run's connections and lock, and those a resume takes, until the run ends.
    with ExitStack() as held:
        run, saved = begin(context, definition, result, held)
        _run_recorded(run, saved)
    return result


def _run_recorded(run: Run, saved: Position | None) -> None:
    """The run, and its end in its run record whatever happens; a failure is raised."""
    result = run.result
    try:
        sync_resuming(run, saved)
    except BaseException as exc:
        error = fail_run(run, exc)
        status = RunStatus.CANCELLED if isinstance(error, StoppedError) else RunStatus.FAILED
        result.status, result.finished_at = status, time.time()
        result.exit_code = error.exit_code
        close_run(run, status, result.error)
        error.result = result
        if error is exc:
            raise
        raise error from exc
    result.status, result.finished_at = RunStatus.SUCCEEDED, time.time()
    close_run(run, RunStatus.SUCCEEDED, None)


def sync_resuming(run: Run, saved: Position | None) -> None:
    """``_attempt``, and after each lost connection it may ride out, the same again from the
    last committed batch on fresh connections (services/sync/run/resume.py)."""
    position, delay = saved, None
    while True:
        try:
            if delay is not None:
                stopping.sleep(delay)
                position = reconnect(run)
            _attempt(run, position)
            return
        except Exception as exc:
            cause = resumable_cause(exc, lost_databases(core=run.core, analytics=run.analytics))
            delay = None if cause is None else run.resumes.next_delay(run.plan.name, cause)
            if delay is None or stopping.requested():
                raise
            run.result.resumes = run.resumes.taken


def _attempt(run: Run, position: Position | None) -> None:
    """``_sync`` (or a backfill's ``_sync_chunks``) on the run's connections as they are
    now: a signal cancels their queries."""
    backfill, dbs = run.backfill, run.dbs
    staging: Staging | None = None
    try:
        with ExitStack() as attempt:
            if backfill is None:
                attempt.enter_context(stopping.cancellable(run.core, run.analytics))
                # Decided under the cancel: the fast path's probe may wait on a lock.
                route, staging, writer = attempt_route(run, position)
                _sync(run, route, writer, position)
            elif not backfill.finished:
                # Chunks are claimed on a connection of their own (chunk_loop.py).
                claims = watched_connection(
                    dbs.analytics, attempt, name="analytics", stall_s=dbs.timeouts.stall_s
                )
                attempt.enter_context(stopping.cancellable(run.core, run.analytics, claims))
                route, staging, writer = attempt_route(run, position)
                _sync_chunks(run, route, writer, backfill, claims)
    finally:
        if staging is not None:
            staging.drop()


def _sync(run: Run, route: Route, writer: BatchWriter, saved: Position | None) -> None:
    """Fix the run's watermark, then commit batches up to it, read the route's way."""
    plan, core, analytics = run.plan, run.core, run.analytics
    _count_unexportable(run)
    watermark = compute_watermark(
        core,
        plan,
        saved,
        safety_lag_s=plan.definition.safety_lag_s,
        wait_s=run.settings.writer_wait_for(plan.definition.writer_wait_s),
    )
    run.result.held_back = watermark.held_back
    ahead = q.Window(lower=saved, upper=None, watermark=watermark)
    check_ahead(plan, core, analytics, run.guard, ahead)  # soft deletes: before any write
    windows = Windows(plan, core, watermark)
    with closing(_sources(windows, route, writer, run)) as sources:
        try:
            _keep(run, _commit_batches(run, route, sources, writer, saved))
        finally:
            _count_workers(run, sources)


def _sync_chunks(
    run: Run, route: Route, writer: BatchWriter, backfill: Backfill, claims: Conn
) -> None:
    """This runner's share of a backfill: chunks claimed and committed until none is left."""
    plan, core, analytics = run.plan, run.core, run.analytics
    _count_unexportable(run)
    windows = ChunkWindows(plan, core, claims, backfill)
    try:
        with closing(_sources(windows, route, writer, run)) as sources:
            try:
                steps = commit_chunks(
                    plan, analytics, windows, route, sources, writer, run.result.counts,
                    run_id=run.run_id, guard=run.guard,
                )  # fmt: skip
                _keep(run, steps)
            finally:
                _count_workers(run, sources)
    finally:
        windows.release_all()


def _count_unexportable(run: Run) -> None:
    """Rows the run cannot export (a NULL cursor), counted in its result, not exported."""
    run.result.counts.null_cursor = null_cursor_rows(run.core, run.plan)


def _count_workers(run: Run, sources: BatchSources) -> None:
    result = run.result
    result.transform_workers = max(result.transform_workers, sources.workers_started)


def _sources(windows: WindowSource, route: Route, writer: BatchWriter, run: Run) -> BatchSources:
    """The run's batch sources over ``windows``: cursor batches or a backfill's chunks."""
    return BatchSources(
        windows,
        route,
        columns=writer.columns,
        connect_core=run.dbs.connect_core,
        stall_s=run.dbs.timeouts.stall_s,
        encoding=run.analytics.info.encoding,
    )


def _keep(run: Run, steps: Iterator[LoopStep]) -> None:
    """What a batch loop's steps tell the run, kept on it: the window in flight (which its
    failure names), and after each commit the counts, the position and the progress."""
    result = run.result
    for step in steps:
        if not isinstance(step, Committed):
            run.in_flight = step
            continue
        run.in_flight = None
        result.counts = step.counts  # only now: a batch rolled back is not counted
        if run.backfill is None:
            run.batches_committed += 1
        if step.chunks is not None:
            result.chunks = _chunk_progress(step.chunks)
        if step.position is not None:
            result.position_after = step.position.to_dict()
        if run.context.progress is not None:
            run.context.progress(result)


def _chunk_progress(done: Progress) -> dict[str, int]:
    return {
        "done": done.done,
        "total": done.total,
        "rows": done.rows,
        "pages_done": done.pages_done,
        "pages_total": done.pages_total,
    }


def _commit_batches(
    run: Run, route: Route, sources: BatchSources, writer: BatchWriter, saved: Position | None
) -> Iterator[LoopStep]:
    """Write each batch and commit it with its position and the run's counts, in order; a
    batch refused on its route is written again on the route after it (write_on_route),
    which the batches after it take. Yields each batch's window before writing it, and
    what committed after."""
    plan, analytics = run.plan, run.analytics
    position, counts = saved, run.result.counts
    while True:
        stopping.check()  # asked to stop: nothing is in flight between two batches
        if (batch := sources.next(position)) is None:
            return
        yield batch.window
        with stopping.committing(analytics) as commit, analytics.transaction():
            written, route = write_on_route(writer, sources, batch, route)
            after = counts_after(plan, analytics, run.guard, counts, written)
            commit.begin()  # written: a stop asked from here on lets the batch finish
            _check_moved(plan, position, batch.end_position)  # a keyset batch's end: once written
            save_position(analytics, plan.job, plan.name, batch.end_position)
            record_progress(analytics, run.run_id, after, batch.end_position)
            kill_point("commit")
        kill_point("committed")
        position, counts = batch.end_position, after
        yield Committed(counts, position)


def _check_moved(plan: SyncPlan, position: Position | None, end: Position) -> None:
    if end == position:
        # Only a cursor whose text form does not round-trip could do this;
        # looping on the same batch forever would hide it.
        raise RunError(
            f"{plan.name}: the position did not move past {end.value!r}: the cursor"
            f" column's type ({plan.cursor.type_name}) does not round-trip through text"
        )


def close_run(run: Run, status: RunStatus, error: str | None, *, note: str | None = None) -> None:
    """Close the run's record with ``status`` (a follower closes one per healthy stretch)."""
    try:
        with ExitStack() as fresh:
            target = run.analytics
            if connection_lost(target):  # after an outage the run's own connection is dead
                stall_s = run.dbs.timeouts.stall_s
                target = watched_connection(
                    run.dbs.analytics,
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


def fail_run(run: Run, exc: BaseException) -> TablesyncError:
    """What ``exc`` means for the run (its error, the row at fault), reported and kept."""
    # Only a failed run needs them.
    from services.sync.run.run_failure import classify, report_failure, window_edges

    if run.in_flight is not None:  # its window, as people read it (the summary, Slack)
        run.result.failed_batch = window_edges(run.in_flight)
    error = classify(
        run.dbs,
        run.plan,
        exc,
        batches_committed=run.batches_committed,
        rows_committed=run.result.counts.read,  # counted only once committed
        backfill=run.backfill is not None,
        lost=lost_databases(core=run.core, analytics=run.analytics),
        resumes=run.result.resumes,
        failed_window=run.in_flight,
    )
    return report_failure(
        run.dbs, run.plan, run.result, error, failures_dir=run.settings.failures_dir
    )
