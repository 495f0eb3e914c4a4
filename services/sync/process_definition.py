"""The engine: sync one definition from core into analytics, batch by batch.

Each batch is read in cursor order strictly after the saved position and up to
the run's watermark, staged with COPY, upserted, and committed together with
the new position and the run record's counts, so a crash at any instant
leaves the destination and the position in agreement.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import PoolTimeout

from services.base.constants import PREFETCH, RunStatus
from services.base.db import Databases
from services.base.definition import ExportDefinition
from services.base.errors import RowError, RunError, TablesyncError, first_line
from services.base.position import Position, Watermark, load_position, save_position
from services.base.redact import redact
from services.base.results import RunCounts, RunResult
from services.base.testhooks import kill_point
from services.store import sql as q
from services.store.lock import definition_lock
from services.store.plan import CopyMode, SyncPlan
from services.store.preflight import plan_definition
from services.store.runs import abandon_dead_runs, finish_run, record_progress, start_run
from services.sync.batch import (
    StagedBatch,
    Staging,
    check_transform_columns,
    stage_passthrough,
    stage_transformed,
)
from services.sync.fast_path import (
    FALLBACK_ERRORS,
    batch_keys_unique,
    fast_path_allowed,
    keys_never_null,
    must_fall_back,
    staging_needs_keys,
)
from services.sync.prefetch import Prefetcher, stage_blocks
from services.sync.watermark import compute_watermark

if TYPE_CHECKING:  # imported when a transform runs: a run without one never needs it
    from services.sync.transform_workers import EncodedBatch, TransformWorkers

log = logging.getLogger(__name__)

# How long a failed run may wait for a fresh analytics connection to record its end.
RECORD_TIMEOUT_S = 5.0

ProgressCallback = Callable[[RunResult], None]
Conn = psycopg.Connection[Any]


class _Run:
    """State of one definition run while its batches go through."""

    def __init__(
        self,
        plan: SyncPlan,
        core: Conn,
        analytics: Conn,
        result: RunResult,
        *,
        workers: int,
        connect_core: Callable[[], Conn],
    ):
        self.plan = plan
        self.core = core
        self.analytics = analytics
        self.result = result
        self.staging = Staging(plan, analytics, keyed=staging_needs_keys(plan))
        self.batches_committed = 0
        # Without a transform, a thread reads batch n+1 from core while batch n
        # is written (services/sync/prefetch.py); it owns ``core`` until closed.
        self.prefetcher: Prefetcher | None = None
        self.prefetched: Iterator[tuple[Position, Iterator[bytes]]] | None = None
        self.blocks: Iterator[bytes] | None = None
        # With a transform, processes transform batch 2 on (services/sync/transform_workers.py);
        # ``workers`` drops to 0 for the rest of the run once one fails.
        self.workers = workers  # 0 without a transform
        self.connect_core = connect_core
        self.transformers: TransformWorkers | None = None
        self.transformed: Iterator[tuple[Position, EncodedBatch]] | None = None
        self.encoded: EncodedBatch | None = None
        # Initial-load fast path (services/sync/fast_path.py): None until first asked.
        self.fast: bool | None = None
        self.fast_columns: list[str] | None = None
        self.distinct = not batch_keys_unique(plan)
        self.keys_never_null = keys_never_null(plan)

    def fast_now(self) -> bool:
        """Whether batches go straight into the destination; checked once, before any write."""
        if self.fast is None:
            self.fast = fast_path_allowed(self.plan, self.analytics)
        return self.fast

    def check_fast_columns(self, columns: list[str]) -> None:
        if self.fast_columns is None:
            check_transform_columns(self.plan, columns)
            self.fast_columns = columns

    def write_batch(self, window: q.Window) -> RunCounts:
        """Write one batch: straight into an empty destination when allowed, else staged
        and upserted; a batch the straight COPY refuses is redone the normal way."""
        if self.encoded is not None:
            encoded, self.encoded = self.encoded, None
            counts = self.write_encoded(encoded)
            if counts is not None:
                return counts
        if self.fast_now():
            try:
                with self.analytics.transaction():  # a savepoint: a refused batch leaves no row
                    return self.copy_straight(window)
            except FALLBACK_ERRORS as exc:
                if not must_fall_back(exc, self.analytics):
                    raise
                self.leave_fast_path(exc)
        return self.upsert(self.stage(window))

    def write_encoded(self, encoded: EncodedBatch) -> RunCounts | None:
        """A worker's batch, written as the runner would write it; None: redo it here."""
        problem = encoded.failure or self.unexpected_columns(encoded)
        if problem is None:
            staged = encoded.staged
            try:
                with self.analytics.transaction():  # a savepoint: a refused batch leaves no row
                    from services.sync.transform_workers import stage_encoded

                    stage_encoded(self.plan, self.analytics, encoded)
                    if not encoded.fast:
                        return self.upsert(staged)
                    kill_point("upsert")
                    written = staged.read - staged.skipped
                    log.debug(
                        "%s: fast path: %d row(s) copied straight in (transformed by a worker)",
                        self.plan.name,
                        written,
                    )
                    return RunCounts(read=staged.read, created=written, skipped=staged.skipped)
            except FALLBACK_ERRORS as exc:
                if not must_fall_back(exc, self.analytics):
                    raise
                if encoded.fast:  # as a refused straight COPY in the runner: on to staging
                    self.leave_fast_path(exc)
                    return None
                problem = f"{type(exc).__name__}: {redact(first_line(exc))}"
        log.debug("%s: transform workers off: %s; batch redone here", self.plan.name, problem)
        self.workers = 0
        self.stop_workers()
        return None

    def unexpected_columns(self, encoded: EncodedBatch) -> str | None:
        """Why a worker's output columns cannot go in as they are, or None."""
        staged = encoded.staged
        if staged.read == staged.skipped:
            return None
        if encoded.fast:
            if self.fast_columns is None:
                self.check_fast_columns(staged.columns)
            known = self.fast_columns
        else:
            self.staging.ensure(staged.columns)
            known = self.staging.columns
        if staged.columns == known:
            return None
        return f"the batch's columns {staged.columns} differ from the run's {known}"

    def stop_workers(self) -> None:
        if self.transformers is not None:
            self.transformers.close()
        self.transformers = self.transformed = self.encoded = None

    def copy_straight(self, window: q.Window) -> RunCounts:
        if self.blocks is not None:
            blocks, self.blocks = self.blocks, None
            staged = stage_blocks(self.plan, self.analytics, blocks, fast=True)
        elif self.plan.mode is CopyMode.PYTHON:
            staged = stage_transformed(
                self.plan,
                self.core,
                self.analytics,
                window,
                self.fast_columns,
                self.check_fast_columns,
                fast=True,
            )
        else:
            staged = stage_passthrough(self.plan, self.core, self.analytics, window, fast=True)
        kill_point("upsert")
        written = staged.read - staged.skipped
        log.debug("%s: fast path: %d row(s) copied straight in", self.plan.name, written)
        return RunCounts(read=staged.read, created=written, skipped=staged.skipped)

    def leave_fast_path(self, exc: BaseException) -> None:
        """Back to staging for the rest of the run; the current batch is read again."""
        log.debug(
            "%s: fast path off: %s: %s; batch redone through staging",
            self.plan.name,
            type(exc).__name__,
            redact(first_line(exc)),
        )
        self.fast, self.blocks = False, None
        self.stop_workers()  # theirs went straight in too; they start again for staging
        if self.prefetcher is not None:  # its batches lack the key text staging needs
            self.prefetcher.close()
            self.prefetcher = self.prefetched = None

    def stage(self, window: q.Window) -> StagedBatch:
        if self.blocks is not None:
            self.staging.ensure(self.plan.selected)
            blocks, self.blocks = self.blocks, None
            return stage_blocks(self.plan, self.analytics, blocks, keyed=self.staging.keyed)
        return self.staging.stage(self.core, window)

    def upsert(self, staged: StagedBatch) -> RunCounts:
        counts = RunCounts(read=staged.read, skipped=staged.skipped)
        if staged.read == staged.skipped:
            return counts
        null_key = None
        if not self.keys_never_null:
            null_key = self.analytics.execute(q.first_null_key(self.plan)).fetchone()
        if null_key is not None:
            raise RowError(
                f"NULL in conflict column(s) {', '.join(self.plan.keys)}: such a row can never be"
                " matched on upsert",
                cursor_value=null_key[0],
                row_id=null_key[1],
            )
        upsert = q.upsert(self.plan, staged.columns, distinct=self.distinct)
        row = self.analytics.execute(upsert).fetchone()
        kill_point("upsert")
        assert row is not None
        counts.created, counts.updated = int(row[0]), int(row[1])
        counts.skipped = counts.read - counts.created - counts.updated
        return counts

    def next_batch_end(self, position: Position | None, watermark: Watermark) -> Position | None:
        if self.workers and self.batches_committed:  # the first batch shows the columns
            return self.transformed_end(position, watermark)
        if PREFETCH and self.plan.mode is not CopyMode.PYTHON:
            return self.prefetched_end(position, watermark)
        return self.query_batch_end(position, watermark)

    def prefetched_end(self, position: Position | None, watermark: Watermark) -> Position | None:
        """The next batch's end from the reading thread, started at the first call."""
        if self.prefetched is None:
            ends = partial(self.query_batch_end, watermark=watermark)
            self.prefetcher = Prefetcher(
                self.plan,
                self.core,
                watermark,
                position,
                ends,
                with_key_text=self.staging.keyed and not self.fast_now(),
            )
            self.prefetched = iter(self.prefetcher.__enter__())
        found = next(self.prefetched, None)
        if found is None:
            return None
        end, self.blocks = found
        return end

    def transformed_end(self, position: Position | None, watermark: Watermark) -> Position | None:
        """The next batch's end and its rows from the transform workers, started at need."""
        if self.transformed is None:
            from services.sync.transform_workers import TransformWorkers

            fast = self.fast_now()
            self.transformers = TransformWorkers(
                self.plan,
                self.connect_core,
                self.workers,
                start=position,
                next_end=partial(self.query_batch_end, watermark=watermark),
                watermark=watermark,
                fast=fast,
                columns=self.fast_columns if fast else self.staging.columns,
                encoding=self.analytics.info.encoding,
            )
            self.transformed = iter(self.transformers.start())
            self.result.transform_workers = max(self.result.transform_workers, self.workers)
        found = next(self.transformed, None)
        if found is None:
            return None
        end, self.encoded = found
        return end

    def query_batch_end(self, position: Position | None, watermark: Watermark) -> Position | None:
        window = q.Window(lower=position, upper=None, watermark=watermark)
        row = self.core.execute(q.batch_end(self.plan, window)).fetchone()
        return None if row is None else Position(value=row[0], id=row[1])

    def run_batches(
        self, saved: Position | None, run_id: int, progress: ProgressCallback | None
    ) -> None:
        if saved is not None:  # not a full load: no need to ask whether the table is empty
            self.fast = False
        try:
            self.batch_loop(saved, run_id, progress)
        finally:
            if self.prefetcher is not None:
                self.prefetcher.close()
            self.stop_workers()

    def batch_loop(
        self, saved: Position | None, run_id: int, progress: ProgressCallback | None
    ) -> None:
        plan, result = self.plan, self.result
        null_rows = self.core.execute(q.count_unexportable(plan)).fetchone()
        result.counts.null_cursor = int(null_rows[0]) if null_rows else 0
        watermark = compute_watermark(
            self.core, plan, saved, safety_lag_s=plan.definition.safety_lag_s
        )
        result.held_back = watermark.held_back
        position = saved
        while (end := self.next_batch_end(position, watermark)) is not None:
            if end == position:
                # Only a cursor whose text form does not round-trip could do
                # this; looping on the same batch forever would hide it.
                raise RunError(
                    f"{plan.name}: the position did not move past {end.value!r}: the cursor"
                    f" column's type ({plan.cursor.type_name}) does not round-trip through text"
                )
            window = q.Window(lower=position, upper=end, watermark=watermark)
            result.failed_batch = {
                "after": None if position is None else position.to_dict(),
                "through": end.to_dict(),
            }
            with self.analytics.transaction():
                counts = self.write_batch(window)
                result.counts.add(counts)
                save_position(self.analytics, plan.job, plan.name, end)
                record_progress(self.analytics, run_id, result.counts, end)
                kill_point("commit")
            kill_point("committed")
            self.batches_committed += 1
            position = end
            result.position_after = end.to_dict()
            result.failed_batch = None
            if progress is not None:
                progress(result)


def _finish(dbs: Databases, run: _Run, run_id: int, status: RunStatus, error: str | None) -> None:
    conn = run.analytics
    # After an outage the run's own connection is dead: record on a fresh one.
    fresh = conn.broken or conn.closed
    connection = dbs.analytics.connection(timeout=RECORD_TIMEOUT_S) if fresh else nullcontext(conn)
    try:
        with connection as target:
            finish_run(
                target,
                run_id,
                status=status,
                counts=run.result.counts,
                position=Position.from_dict(run.result.position_after),
                error=error,
            )
    except (psycopg.Error, PoolTimeout) as exc:
        # The run's own outcome matters more than its record; the next run
        # will mark this one abandoned.
        log.warning("could not close run record %s: %s", run_id, redact(first_line(exc)))


def _fail(dbs: Databases, plan: SyncPlan, run: _Run, exc: BaseException) -> TablesyncError:
    from services.sync.run_failure import classify, report_failure  # only a failed run needs it

    error = classify(
        dbs,
        plan,
        exc,
        batches_committed=run.batches_committed,
        connection_lost=run.analytics.broken or run.core.broken,
        failed_batch=run.result.failed_batch,
    )
    return report_failure(dbs, plan, run.result, error)


def process_definition(
    job: str,
    name: str,
    definition: ExportDefinition,
    dbs: Databases,
    *,
    command: str = "",
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Sync ``definition`` once; returns the result or raises a TablesyncError.

    A raised error carries the result as ``error.result`` so the caller can
    report counts of a failed run.
    """
    result = RunResult(
        job=job,
        definition=name,
        started_at=time.time(),
        host=socket.gethostname(),
        pid=os.getpid(),
        cursor_field=definition.source.cursor.field,
        id_field=definition.source.cursor.id_field,
    )
    workers = 0
    if definition.transform is not None:
        from services.sync.transform_workers import worker_count

        workers = worker_count(configured=definition.transform_workers)
    dbs.open()  # both databases at once, not one after the other
    with dbs.analytics.connection() as analytics, dbs.core.connection() as core:
        analytics.autocommit = core.autocommit = True
        plan = plan_definition(job, name, definition, core=core, analytics=analytics)
        with definition_lock(analytics, job, name):
            abandon_dead_runs(analytics, job, name)
            saved = load_position(analytics, job, name)
            result.position_before = result.position_after = (
                None if saved is None else saved.to_dict()
            )
            run_id = start_run(
                analytics,
                job=job,
                definition=name,
                position=saved,
                host=result.host,
                pid=result.pid,
                command=command,
            )
            result.run_id = run_id
            run = _Run(
                plan, core, analytics, result, workers=workers, connect_core=dbs.connect_core
            )
            try:
                run.run_batches(saved, run_id, progress)
            except BaseException as exc:
                error = _fail(dbs, plan, run, exc)
                result.status, result.finished_at = RunStatus.FAILED, time.time()
                result.exit_code = error.exit_code
                _finish(dbs, run, run_id, RunStatus.FAILED, result.error)
                error.result = result
                if error is exc:
                    raise
                raise error from exc
            finally:
                run.staging.drop()
            result.status, result.finished_at = RunStatus.SUCCEEDED, time.time()
            _finish(dbs, run, run_id, RunStatus.SUCCEEDED, None)
    return result
