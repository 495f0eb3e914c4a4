"""Move one batch from core into the staging table, streaming COPY to COPY.

Without a transform the bytes of ``COPY ... TO STDOUT`` flow unparsed into
``COPY ... FROM STDIN``; with one, the rows are read as chunked results
(TRANSFORM_READ_ROWS at a time, decoded in C a chunk at once: cheaper than
parsing COPY rows one by one), transformed and re-encoded for COPY in
binary. Memory stays bounded by COPY's chunks, or the read's, either way.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg.abc import Buffer

from services.base import (
    COPY_BLOCK_BYTES,
    TRANSFORM_READ_ROWS,
    Delete,
    PreflightError,
    RowError,
    first_line,
    kill_point,
    kill_points_armed,
    use_exact_json,
)
from services.store import CopyMode, StagingLayout, SyncPlan
from services.store import sql as q
from services.sync.read import loaded_rows
from services.sync.transform import (
    BinaryRows,
    binary_copyable,
    check_transform_columns,
    output_types,
)
from services.sync.write.deletes import RowDeletes, flagged_in_window
from services.sync.write.row_at_fault import (
    FastPathRefused,
    RowAt,
    check_keys,
    copy_line,
    row_error,
)


@dataclass
class StagedBatch:
    """What was staged: rows read, rows the transform skipped, columns written."""

    read: int = 0
    skipped: int = 0
    columns: list[str] = field(default_factory=list)
    # Rows that delete their key (services/sync/write/deletes.py), staged or by value, and the
    # keys to delete by value once the batch is written (conflict column values).
    deleting: int = 0
    deleted_keys: list[tuple[Any, ...]] = field(default_factory=list)
    by_value: int = 0  # of the rows read, those that delete by value (never written)

    @property
    def nothing_written(self) -> bool:
        """Whether no row went into staging (or the destination) at all."""
        return self.read == self.skipped + self.by_value


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


def _check_output(out: object, first: list[str], at: RowAt) -> list[str]:
    """The columns to write ``out``'s values in: ``first`` (the batch's, if any yet) or its own."""
    if not isinstance(out, dict):
        raise row_error(f"transform returned {type(out).__name__}, not a dict or None", at)
    columns = list(out)
    if first and columns != first and set(columns) != set(first):
        raise row_error(
            f"transform returned columns {sorted(columns)}, unlike the batch's first row"
            f" {sorted(first)}",
            at,
        )
    return first or columns


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

    return transform_window(plan, core, window, columns, on_columns, open_copy, fast=fast)


class RowSink(Protocol):
    """Where transformed rows go: a COPY (psycopg.Copy), or encoded bytes in a worker."""

    def write_row(self, row: Sequence[Any]) -> None: ...


# Opens the sink for a batch once its columns are known; the stack closes it.
OpenSink = Callable[[ExitStack, list[str]], RowSink]


def transform_window(
    plan: SyncPlan,
    core: psycopg.Connection[Any],
    window: q.Window,
    columns: list[str] | None,
    on_columns: Callable[[list[str]], None],
    open_sink: OpenSink,
    *,
    fast: bool = False,
) -> StagedBatch:
    """``stage_transformed`` with the rows written to whatever ``open_sink`` opens."""
    at = RowAt(plan.selected, keyed=not fast)
    staged_keys: list[tuple[str | None, str | None]] = []
    deletes = RowDeletes(plan.keys)
    flagged = plan.definition.source.soft_delete is not None  # the flag ends each row
    try:
        transform = plan.definition.transform
        assert transform is not None
        source_oids = [plan.source.columns[c].type_oid for c in plan.selected]
        staged = StagedBatch(columns=list(columns or []))
        read = skipped = 0
        # The ExitStack closes the staging COPY before the reading one, with the
        # error if there is one, so a failure aborts the write and stays the error.
        with ExitStack() as stack:
            reader = stack.enter_context(core.cursor())
            use_exact_json(reader)  # jsonb numbers reach the transform with every digit
            binary = binary_copyable(core, source_oids)
            # Straight into the table no key text is needed: a failure there is redone
            # through staging, which names the row.
            query = q.select_rows(plan, window, with_key_text=not fast)
            stream = reader.stream(query, binary=binary, size=TRANSFORM_READ_ROWS)
            assert isinstance(stream, Generator)  # psycopg's stream is one
            stack.enter_context(closing(stream))  # before the cursor: left early, it cancels
            rows = loaded_rows(reader, stream, binary=binary)
            into: RowSink | None = None
            armed = kill_points_armed()  # kill_point is dear per row
            # Looked up once: this loop runs per row, and its every step counts.
            selected, keys, written_columns = plan.selected, plan.keys, staged.columns
            width, key_at = len(written_columns), len(selected)  # key text after the values
            for values in rows:
                at.values = values
                read += 1
                if armed:
                    kill_point("read")
                result = transform(dict(zip(selected, values, strict=False)))  # key text: left out
                if armed:
                    kill_point("transform")
                if result is None:
                    skipped += 1
                    continue
                if isinstance(result, Delete):
                    key = deletes.marker_key(result, at)
                    if fast or into is None:  # deleted once the batch's rows are written
                        deletes.delete_by_value(key)
                        continue
                    text = values[key_at : key_at + 2]
                    into.write_row([*deletes.staged_row(result, written_columns), *text, True])
                    staged_keys.append(text)
                    continue
                if type(result) is not dict or len(result) != width:  # else: same keys, below
                    staged.columns = written_columns = _check_output(result, written_columns, at)
                    width = len(written_columns)
                deleting = flagged and bool(values[-1])
                if fast and deleting:
                    deletes.delete_by_value(deletes.flagged_key(result))
                    continue
                if fast:
                    deletes.check_written(result)
                if into is None:
                    on_columns(written_columns)
                    into = open_sink(stack, written_columns)
                    write_row = into.write_row
                try:
                    written = list(map(result.__getitem__, written_columns))
                except KeyError:  # as many columns, other names: let the check say which
                    _check_output(result, written_columns, at)
                    raise
                if fast:
                    check_keys(keys, result)  # the table would take a NULL key; staging refuses it
                else:
                    text = values[key_at : key_at + 2]
                    written += text
                    staged_keys.append(text)
                    written.append(deleting)
                    if deleting:
                        deletes.count += 1
                write_row(written)
                if armed:
                    kill_point("copy")
        staged.deleting, staged.deleted_keys = deletes.count, deletes.by_value
        staged.by_value = deletes.by_value_rows
        staged.read, staged.skipped = read, skipped
        return staged
    except (RowError, PreflightError, FastPathRefused, psycopg.OperationalError):
        raise
    except Exception as exc:  # the transform, encoding its output, or the server on our rows
        error = _named_error(exc, at, staged_keys)
        if error is exc:
            raise
        raise error from exc


def _named_error(
    exc: Exception, at: RowAt, staged_keys: list[tuple[str | None, str | None]]
) -> Exception:
    """``exc`` as a RowError naming the row at fault, or ``exc`` itself if none is."""
    if not isinstance(exc, psycopg.Error):
        return _row_error(exc, at)
    line = copy_line(exc)
    if line is not None and 0 < line <= len(staged_keys):
        key = staged_keys[line - 1]
        return RowError(first_line(exc), cursor_value=key[0], row_id=key[1])
    if exc.sqlstate is None and at.values is not None:  # raised while encoding our row
        return _row_error(exc, at)
    return exc


def _row_error(exc: BaseException, at: RowAt) -> RowError:
    return row_error(f"{type(exc).__name__}: {first_line(exc)}", at)


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
