"""Write one batch into analytics, inside the transaction that commits it with its position.

Straight into the destination when the run's route says so
(services/sync/route.py, services/sync/write/fast_path.py), else into the staging
table and upserted. What the batch's source read of it
(services/sync/read/batch_sources.py) goes in as it is where it can; where it
cannot (a straight COPY refused, a transform worker that failed), the write
says so (``Refusal``) and ``write_on_route`` takes the route after the
refusal: the batch is read again from core and written that way, which names
the row at fault if one is.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import psycopg

from services.base import RowError, RunCounts, kill_point
from services.store import CopyMode, SyncPlan
from services.store import delete_sql as d
from services.store import sql as q
from services.sync.read import Batch, BatchSources
from services.sync.route import Refusal, Route, batch_keys_unique, keys_never_null
from services.sync.rows import StagedBatch
from services.sync.write.fast_path import FastPath, Refused, in_savepoint
from services.sync.write.staging import (
    Staging,
    stage_blocks,
    stage_encoded,
    stage_passthrough,
    stage_transformed,
)

if TYPE_CHECKING:  # imported when a transform runs: a run without one never needs it
    from services.sync.transform import EncodedBatch

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


class BatchWriter:
    """Writes batches for one run on the route it is given; the caller's transaction
    commits each one."""

    def __init__(
        self, plan: SyncPlan, core: Conn, analytics: Conn, staging: Staging, fast: FastPath
    ):
        self._plan, self._core, self._analytics = plan, core, analytics
        self._staging, self._fast = staging, fast
        self.name = plan.name
        self._distinct = not batch_keys_unique(plan)
        self._keys_never_null = keys_never_null(plan)
        self._deletes = q.can_delete(plan)  # staged rows may delete their key

    def write(self, batch: Batch, route: Route) -> RunCounts | Refusal:
        """Write ``batch`` the way ``route`` says and return its counts, or why it could not
        be written so (its rows rolled back): the caller takes the route after the refusal
        and writes the batch again, read from core."""
        if batch.encoded is not None:
            return self._write_encoded(batch.encoded)
        if route.straight:
            outcome = self._fast.attempt(partial(self._copy_straight, batch, route))
            return Refusal.STRAIGHT_REFUSED if isinstance(outcome, Refused) else outcome
        return self._upsert(self._stage(batch))

    def columns(self, route: Route) -> list[str] | None:
        """The run's output columns on ``route``, once a batch has set them (the transform
        workers are started with them)."""
        return self._fast.columns if route.straight else self._staging.columns

    def _copy_straight(self, batch: Batch, route: Route) -> RunCounts:
        plan, core, analytics = self._plan, self._core, self._analytics
        layout = route.layout
        if batch.blocks is not None:
            staged = stage_blocks(plan, analytics, batch.blocks, layout, fast=True)
        elif plan.mode is CopyMode.PYTHON:
            columns, check = self._fast.columns, self._fast.check_columns
            staged = stage_transformed(
                plan, core, analytics, batch.window, columns, check, layout, fast=True
            )
        else:
            staged = stage_passthrough(plan, core, analytics, batch.window, layout, fast=True)
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
        from services.sync.write.deletes import delete_by_value

        return delete_by_value(self._plan, self._analytics, staged.deleted_keys)

    def _stage(self, batch: Batch) -> StagedBatch:
        if batch.blocks is None:
            return self._staging.stage(self._core, batch.window)
        self._staging.ensure(self._plan.selected)
        return stage_blocks(self._plan, self._analytics, batch.blocks, self._staging.layout)

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

    def _write_encoded(self, encoded: EncodedBatch) -> RunCounts | Refusal:
        """A worker's batch, written as the runner would write it."""
        problem = encoded.failure or self._unexpected_columns(encoded)
        if problem is None and encoded.fast:
            outcome = self._fast.attempt(partial(self._copy_encoded_straight, encoded))
            return Refusal.STRAIGHT_REFUSED if isinstance(outcome, Refused) else outcome
        if problem is None:
            upserted = in_savepoint(self._analytics, partial(self._upsert_encoded, encoded))
            if not isinstance(upserted, Refused):
                return upserted
            problem = upserted.reason
        log.debug("%s: transform workers off: %s; batch redone here", self._plan.name, problem)
        return Refusal.WORKER_FAILED

    def _copy_encoded_straight(self, encoded: EncodedBatch) -> RunCounts:
        stage_encoded(self._plan, self._analytics, encoded, self._staging.layout)
        return self._copied_straight(encoded.staged, " (transformed by a worker)")

    def _upsert_encoded(self, encoded: EncodedBatch) -> RunCounts:
        stage_encoded(self._plan, self._analytics, encoded, self._staging.layout)
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


def write_on_route(
    writer: BatchWriter, sources: BatchSources, batch: Batch, route: Route
) -> tuple[RunCounts, Route]:
    """Write ``batch`` on ``route``; after a refusal, on ``route.after_refusal(...)``, read
    again from core, with the sources reopened on the new route for the batches after it.
    Returns the counts and the route the rest of the run takes. Each refusal leaves a
    way for good (straight, workers), and a staged write is never refused, so this ends."""
    while isinstance(outcome := writer.write(batch, route), Refusal):
        route = route.after_refusal(outcome)
        log.debug("%s: %s; now %s", writer.name, outcome, route)
        sources.reroute(route)  # what it read ahead went the old way
        batch = batch.window_only()
    # The rows source.where left out of the read: read and skipped, as a transform's None.
    outcome.read += batch.window.left_out
    outcome.skipped += batch.window.left_out
    return outcome, route
