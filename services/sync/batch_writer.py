"""Write one batch into analytics, inside the transaction that commits it with its position.

Straight into the destination while the run is on the fast path
(services/sync/fast_path.py), else into the staging table and upserted. What
the batch's source read of it (services/sync/batch_sources.py) goes in as it
is where it can; where it cannot (a straight COPY refused, a transform
worker that failed), the batch is read again from core and written the
normal way, which names the row at fault if one is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import psycopg

from services.base import RowError, RunCounts, kill_point
from services.store import CopyMode, SyncPlan
from services.store import delete_sql as d
from services.store import sql as q
from services.sync.batch import StagedBatch, Staging, stage_passthrough, stage_transformed
from services.sync.batch_sources import Batch, BatchSources
from services.sync.fast_path import (
    FastPath,
    Refused,
    batch_keys_unique,
    in_savepoint,
    keys_never_null,
)
from services.sync.prefetch import stage_blocks

if TYPE_CHECKING:  # imported when a transform runs: a run without one never needs it
    from services.sync.transform_workers import EncodedBatch

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


class BatchWriter:
    """Writes batches for one run; the caller's transaction commits each one."""

    def __init__(
        self,
        plan: SyncPlan,
        core: Conn,
        analytics: Conn,
        staging: Staging,
        fast: FastPath,
        sources: BatchSources,
    ):
        self._plan, self._core, self._analytics = plan, core, analytics
        self._staging, self._fast = staging, fast
        self._sources = sources  # closed when what they read ahead cannot go in
        self._distinct = not batch_keys_unique(plan)
        self._keys_never_null = keys_never_null(plan)
        self._deletes = q.can_delete(plan)  # staged rows may delete their key

    def write(self, batch: Batch) -> RunCounts:
        """Write ``batch`` and return its counts; a worker's batch that cannot go in as it
        is, or a batch the straight COPY refuses, is read again and written the normal way."""
        if batch.encoded is not None:
            counts = self._write_encoded(batch.encoded)
            if counts is not None:
                return counts
            batch = batch.read_again()
        if self._fast.on:
            counts = self._straight(partial(self._copy_straight, batch))
            if counts is not None:
                return counts
            batch = batch.read_again()
        return self._upsert(self._stage(batch))

    def _straight(self, write: Callable[[], RunCounts]) -> RunCounts | None:
        """``write()`` on the fast path; None when refused: the run has left it."""
        counts = self._fast.attempt(write)
        if counts is None:
            # What the source read ahead went straight in too, or lacks the key
            # text staging needs; and the prefetch thread gives core back.
            self._sources.close()
        return counts

    def _copy_straight(self, batch: Batch) -> RunCounts:
        plan, core, analytics = self._plan, self._core, self._analytics
        if batch.blocks is not None:
            staged = stage_blocks(plan, analytics, batch.blocks, fast=True)
        elif plan.mode is CopyMode.PYTHON:
            columns, check = self._fast.columns, self._fast.check_columns
            staged = stage_transformed(
                plan, core, analytics, batch.window, columns, check, fast=True
            )
        else:
            staged = stage_passthrough(plan, core, analytics, batch.window, fast=True)
        return self._copied_straight(staged)

    def _copied_straight(self, staged: StagedBatch, how: str = "") -> RunCounts:
        deleted = self._delete_by_value(staged)  # keys an earlier batch of this run wrote
        kill_point("upsert")
        written = staged.read - staged.skipped - staged.deleting
        log.debug("%s: fast path: %d row(s) copied straight in%s", self._plan.name, written, how)
        skipped = staged.read - written - deleted
        return RunCounts(read=staged.read, created=written, deleted=deleted, skipped=skipped)

    def _delete_by_value(self, staged: StagedBatch) -> int:
        if not staged.deleted_keys:
            return 0
        from services.sync.deletes import delete_by_value

        return delete_by_value(self._plan, self._analytics, staged.deleted_keys)

    def _stage(self, batch: Batch) -> StagedBatch:
        if batch.blocks is None:
            return self._staging.stage(self._core, batch.window)
        self._staging.ensure(self._plan.selected)
        return stage_blocks(self._plan, self._analytics, batch.blocks, keyed=self._staging.keyed)

    def _upsert(self, staged: StagedBatch) -> RunCounts:
        # Deletes by value came before every staged row of the batch: first, then.
        counts = RunCounts(read=staged.read, skipped=staged.skipped)
        counts.deleted = self._delete_by_value(staged)
        if staged.nothing_written:
            counts.skipped = counts.read - counts.deleted
            return counts
        null_key = None
        if not self._keys_never_null:
            query = q.first_null_key(self._plan, deletes=self._deletes)
            null_key = self._analytics.execute(query).fetchone()
        if null_key is not None:
            raise RowError(
                f"NULL in conflict column(s) {', '.join(self._plan.keys)}: such a row can never be"
                " matched on upsert",
                cursor_value=null_key[0],
                row_id=null_key[1],
            )
        if self._deletes:  # the keys whose last staged row deletes, deleted; the rest upserted
            upsert = d.upsert_kept(self._plan, staged.columns, distinct=self._distinct)
            delete = d.delete_staged(self._plan, distinct=self._distinct)
            counts.deleted += self._analytics.execute(delete).rowcount
        else:
            upsert = q.upsert(self._plan, staged.columns, distinct=self._distinct)
        row = self._analytics.execute(upsert).fetchone()
        kill_point("upsert")
        assert row is not None
        counts.created, counts.updated = int(row[0]), int(row[1])
        counts.skipped = counts.read - counts.created - counts.updated - counts.deleted
        return counts

    # -- a transform worker's batch ------------------------------------------

    def _write_encoded(self, encoded: EncodedBatch) -> RunCounts | None:
        """A worker's batch, written as the runner would write it; None: redo it here."""
        problem = encoded.failure or self._unexpected_columns(encoded)
        if problem is None and encoded.fast:  # refused: on to staging, workers and all
            return self._straight(partial(self._copy_encoded_straight, encoded))
        if problem is None:
            outcome = in_savepoint(self._analytics, partial(self._upsert_encoded, encoded))
            if not isinstance(outcome, Refused):
                return outcome
            problem = outcome.reason
        log.debug("%s: transform workers off: %s; batch redone here", self._plan.name, problem)
        self._sources.stop_workers()
        return None

    def _copy_encoded_straight(self, encoded: EncodedBatch) -> RunCounts:
        stage_encoded(self._plan, self._analytics, encoded)
        return self._copied_straight(encoded.staged, " (transformed by a worker)")

    def _upsert_encoded(self, encoded: EncodedBatch) -> RunCounts:
        stage_encoded(self._plan, self._analytics, encoded)
        return self._upsert(encoded.staged)

    def _unexpected_columns(self, encoded: EncodedBatch) -> str | None:
        """Why a worker's output columns cannot go in as they are, or None."""
        staged = encoded.staged
        if staged.nothing_written:
            return None
        if encoded.fast:
            self._fast.check_columns(staged.columns)
            known = self._fast.columns
        else:
            self._staging.ensure(staged.columns)
            known = self._staging.columns
        if staged.columns == known:
            return None
        return f"the batch's columns {staged.columns} differ from the run's {known}"


def stage_encoded(plan: SyncPlan, analytics: Conn, batch: EncodedBatch) -> None:
    """Write a worker's batch into the staging table, or into the destination when fast."""
    staged = batch.staged
    if staged.nothing_written:
        return
    if batch.fast:
        query = q.copy_into_destination(plan, staged.columns, binary=batch.binary)
    else:
        query = q.copy_in(staged.columns, binary=batch.binary, deletes=q.can_delete(plan))
    with analytics.cursor() as writer, writer.copy(query) as into:
        for message in batch.data:
            into.write(message)
