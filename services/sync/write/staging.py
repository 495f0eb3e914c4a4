"""Staging: the session's temp table, and every way a batch's rows get into it (or,
on the fast path, straight into the empty destination), in one place.

- ``stage_passthrough``: without a transform, the bytes of core's ``COPY ... TO
  STDOUT`` flow unparsed into ``COPY ... FROM STDIN``, in blocks (``copy_blocks``).
- ``stage_blocks``: the same bytes, read ahead by the prefetch thread
  (services/sync/read/prefetch.py).
- ``stage_transformed``: a transform's rows (services/sync/transform/transform_loop.py)
  re-encoded for COPY, in binary where the types allow.
- ``stage_encoded``: a transform worker's batch, already COPY data
  (services/sync/transform/transform_workers.py).

What the staging table holds besides the batch's columns is the route's layout
(services/store/layout.py). Memory stays bounded by COPY's chunks, or the read's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.abc import Buffer

from services.base import COPY_BLOCK_BYTES, kill_point, kill_points_armed, use_exact_json
from services.store import CopyMode, StagingLayout, SyncPlan
from services.store import sql as q
from services.sync.rows import StagedBatch
from services.sync.transform import (
    BinaryRows,
    RowSink,
    check_transform_columns,
    output_types,
    transform_into_staging,
    transform_straight,
)
from services.sync.write.deletes import flagged_in_window

if TYPE_CHECKING:  # imported when a transform runs: a run without one never needs it
    from services.sync.transform import EncodedBatch

Conn = psycopg.Connection[Any]


def stage_passthrough(
    plan: SyncPlan,
    core: psycopg.Connection[Any],
    analytics: psycopg.Connection[Any],
    window: q.Window,
    layout: StagingLayout,
    *,
    fast: bool = False,
) -> StagedBatch:
    """Copy the window's rows unchanged (straight into the destination when ``fast``,
    see services/sync/write/fast_path.py; else as staging's ``layout`` wants them, their key
    as text when it is keyed); raises the server's error on bad data."""
    keyed = layout.keyed
    binary = plan.mode is CopyMode.BINARY
    # Straight in, soft-deleted rows stay out and their keys are deleted by value.
    skip = "skip" if fast else "flag"
    read = q.copy_out(
        plan, window, binary=binary, with_key_text=keyed and not fast, soft_deleted_rows=skip
    )
    if fast:
        write = q.copy_into_destination(plan, plan.selected, binary=binary)
    else:
        write = q.copy_in(plan.selected, binary=binary, layout=layout)
    with core.cursor() as reader, analytics.cursor() as writer:
        with reader.copy(read) as out, writer.copy(write) as into:
            copy_blocks(out, into)
        staged = StagedBatch(read=writer.rowcount, columns=list(plan.selected))
    if fast and plan.definition.source.soft_delete is not None:
        staged.deleted_keys = flagged_in_window(plan, core, window)
        staged.read += len(staged.deleted_keys)
        staged.deleting = staged.by_value = len(staged.deleted_keys)
    return staged


def copy_blocks(rows: Iterable[Buffer], into: psycopg.Copy) -> None:
    """Write COPY rows into another COPY in blocks of COPY_BLOCK_BYTES.

    COPY data is a byte stream whatever its messages, and a write per row
    costs a libpq round of Python calls: blocks cut that to one per ~64 KiB.
    """
    armed = kill_points_armed()  # kill_point is dear per row
    block = bytearray()
    for chunk in rows:
        block += chunk
        if armed:
            kill_point("read")
            kill_point("copy")
        if len(block) >= COPY_BLOCK_BYTES:
            into.write(block)
            block = bytearray()
    if block:
        into.write(block)


class Staging:
    """The session's temp staging table, created on first use with its batch's columns."""

    def __init__(
        self,
        plan: SyncPlan,
        conn: psycopg.Connection[Any],
        layout: StagingLayout | None = None,
    ):
        self.plan, self.conn = plan, conn
        # A run's, from its route (services/sync/route.py); verify's: every extra column.
        self.layout = layout or StagingLayout(deletes=q.can_delete(plan))
        self.columns: list[str] | None = None

    def ensure(self, columns: list[str]) -> None:
        """Create the table for ``columns`` unless it exists (a transform's are checked first)."""
        if self.columns is not None:
            return
        if self.plan.mode is CopyMode.PYTHON:
            check_transform_columns(self.plan, columns)
        self.conn.execute(q.drop_staging())
        self.conn.execute(q.create_staging(self.plan, columns, self.layout))
        self.columns = columns

    def stage(self, core: psycopg.Connection[Any], window: q.Window) -> StagedBatch:
        """The window's rows, transformed where the definition says so, in the table."""
        plan, layout = self.plan, self.layout
        if plan.mode is CopyMode.PYTHON:
            return stage_transformed(
                plan, core, self.conn, window, self.columns, self.ensure, layout
            )
        self.ensure(plan.selected)
        return stage_passthrough(plan, core, self.conn, window, layout)

    def drop(self) -> None:
        """Drop the table if this object created it and the connection still works."""
        if self.columns is not None and not self.conn.broken:
            self.conn.execute(q.drop_staging())
            self.columns = None


def stage_transformed(
    plan: SyncPlan,
    core: psycopg.Connection[Any],
    analytics: psycopg.Connection[Any],
    window: q.Window,
    columns: list[str] | None,
    on_columns: Callable[[list[str]], None],
    layout: StagingLayout,
    *,
    fast: bool = False,
) -> StagedBatch:
    """Read, transform and write the window's rows one by one into ``analytics`` (staging,
    as its ``layout`` says).

    ``columns`` is the staging table's column list when it exists already;
    ``on_columns(columns)`` is called once with the first output's columns so
    the caller can check them and create the staging table before any write.
    ``fast`` writes straight into the destination instead (services/sync/write/fast_path.py)
    and raises FastPathRefused at a NULL key.
    A failure raises RowError naming the row at fault where one is to blame.
    """

    def open_copy(stack: ExitStack, columns: list[str]) -> RowSink:
        return _open_staging_copy(stack, plan, analytics, columns, layout, fast=fast)

    loop = transform_straight if fast else transform_into_staging
    return loop(plan, core, window, columns, on_columns, open_copy)


def stage_blocks(
    plan: SyncPlan,
    analytics: psycopg.Connection[Any],
    blocks: Iterator[bytes],
    layout: StagingLayout,
    *,
    fast: bool = False,
) -> StagedBatch:
    """Write one prefetched batch into the staging table (the destination itself when
    ``fast``, see services/sync/write/fast_path.py); raises the server's error on bad data."""
    binary = plan.mode is CopyMode.BINARY
    if fast:
        query = q.copy_into_destination(plan, plan.selected, binary=binary)
    else:
        query = q.copy_in(plan.selected, binary=binary, layout=layout)
    with analytics.cursor() as writer:
        with writer.copy(query) as into:
            for block in blocks:
                into.write(block)
        return StagedBatch(read=writer.rowcount, columns=list(plan.selected))


def stage_encoded(
    plan: SyncPlan, analytics: Conn, batch: EncodedBatch, layout: StagingLayout
) -> None:
    """Write a worker's batch into the staging table, or into the destination when fast."""
    staged = batch.staged
    if staged.nothing_written:
        return
    if batch.fast:
        query = q.copy_into_destination(plan, staged.columns, binary=batch.binary)
    else:
        query = q.copy_in(staged.columns, binary=batch.binary, layout=layout)
    with analytics.cursor() as writer, writer.copy(query) as into:
        for message in batch.data:
            into.write(message)


def _open_staging_copy(
    stack: ExitStack,
    plan: SyncPlan,
    conn: psycopg.Connection[Any],
    columns: list[str],
    layout: StagingLayout,
    *,
    fast: bool,
) -> RowSink:
    """The COPY into staging (with each row's key as text), or into the destination if fast."""
    binary, types = output_types(plan, conn, columns, fast=fast)
    writer = stack.enter_context(conn.cursor())
    use_exact_json(writer)
    if fast:
        query = q.copy_into_destination(plan, columns, binary=binary)
    else:
        query = q.copy_in(columns, binary=binary, layout=layout)
    into = stack.enter_context(writer.copy(query))
    if binary:  # exited before the COPY: the trailer goes in first
        return stack.enter_context(BinaryRows(writer, types, into.write))
    into.set_types(types)
    return into
