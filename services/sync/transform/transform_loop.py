"""A transform's loop: a window's rows read from core, each passed through the
definition's transform, the results written to a sink (a COPY, or a worker's buffer).

Two loops, one per destination, since which one a batch goes to is fixed per call:

- ``transform_into_staging``: each row with its key as text and its soft-delete flag
  after its values (the upsert reads them, and a failure names its row from them); a
  transform's ``Delete`` is staged as a row that deletes its key.
- ``transform_straight``: into the empty destination (services/sync/write/fast_path.py):
  no key text; soft-deleted rows and ``Delete`` are deleted by value once the batch is
  written; a NULL key or a key written after its delete refuses the batch
  (FastPathRefused), which staging then takes.

The rows are read as chunked results (TRANSFORM_READ_ROWS at a time, decoded in C a
chunk at once: cheaper than parsing COPY rows one by one, services/sync/transform/
read_rows.py), so memory stays bounded by the read's chunks. Each loop runs per row:
what it looks up, it looks up once.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from typing import Any, Protocol

import psycopg

from services.base import (
    TRANSFORM_READ_ROWS,
    Delete,
    PreflightError,
    Row,
    RowError,
    first_line,
    kill_point,
    kill_points_armed,
    use_exact_json,
)
from services.store import SyncPlan
from services.store import sql as q
from services.sync.rows import FastPathRefused, RowAt, StagedBatch, check_keys, copy_line, row_error
from services.sync.transform.read_rows import loaded_rows
from services.sync.transform.row_deletes import RowDeletes
from services.sync.transform.transform_output import binary_copyable

Transform = Callable[[Row], Any]
# A row's key as text, which staging keeps after its values: (cursor, id).
KeyText = tuple[str | None, str | None]


class RowSink(Protocol):
    """Where transformed rows go: a COPY (psycopg.Copy), or encoded bytes in a worker."""

    def write_row(self, row: Sequence[Any]) -> None: ...


# Opens the sink for a batch once its columns are known; the stack closes it.
OpenSink = Callable[[ExitStack, list[str]], RowSink]


def transform_into_staging(
    plan: SyncPlan,
    core: psycopg.Connection[Any],
    window: q.Window,
    columns: list[str] | None,
    on_columns: Callable[[list[str]], None],
    open_sink: OpenSink,
) -> StagedBatch:
    """Transform the window's rows into what ``open_sink`` opens, as staging takes them.

    ``columns`` is the staging table's column list when it exists already;
    ``on_columns(columns)`` is called once with the first output's columns, before the
    sink is opened, so the caller can check them and create the table. A failure raises
    RowError naming the row at fault where one is to blame."""
    at = RowAt(plan.selected, keyed=True)
    staged_keys: list[KeyText] = []
    deletes = RowDeletes(plan.keys)
    flagged = plan.definition.source.soft_delete is not None  # the flag ends each row
    transform = _transform_of(plan)
    staged = StagedBatch(columns=list(columns or []))
    read = skipped = 0
    with _naming_the_row(at, staged_keys), ExitStack() as stack:
        rows = _rows(stack, plan, core, window, with_key_text=True)
        into: RowSink | None = None
        armed = kill_points_armed()  # kill_point is dear per row
        selected, written_columns = plan.selected, staged.columns
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
            text = values[key_at : key_at + 2]
            if isinstance(result, Delete):
                key = deletes.marker_key(result, at)
                if into is None:  # no columns yet: deleted once the batch's rows are written
                    deletes.delete_by_value(key)
                    continue
                into.write_row([*deletes.staged_row(result, written_columns), *text, True])
                staged_keys.append(text)
                continue
            if type(result) is not dict or len(result) != width:  # else: same keys, below
                staged.columns = written_columns = _check_output(result, written_columns, at)
                width = len(written_columns)
            if into is None:
                on_columns(written_columns)
                into = open_sink(stack, written_columns)
                write_row = into.write_row
            try:
                written = list(map(result.__getitem__, written_columns))
            except KeyError:  # as many columns, other names: let the check say which
                _check_output(result, written_columns, at)
                raise
            written += text
            staged_keys.append(text)
            deleting = flagged and bool(values[-1])
            written.append(deleting)
            if deleting:
                deletes.count += 1
            write_row(written)
            if armed:
                kill_point("copy")
    return _counted(staged, deletes, read, skipped)


def transform_straight(
    plan: SyncPlan,
    core: psycopg.Connection[Any],
    window: q.Window,
    columns: list[str] | None,
    on_columns: Callable[[list[str]], None],
    open_sink: OpenSink,
) -> StagedBatch:
    """Transform the window's rows into what ``open_sink`` opens, as the empty destination
    takes them (``transform_into_staging``'s arguments); raises FastPathRefused at a NULL
    key or a key written after this batch deleted it."""
    at = RowAt(plan.selected, keyed=False)
    deletes = RowDeletes(plan.keys)
    flagged = plan.definition.source.soft_delete is not None  # the flag ends each row
    transform = _transform_of(plan)
    staged = StagedBatch(columns=list(columns or []))
    read = skipped = 0
    # Straight in no key text is read: a failure here is redone through staging,
    # which names the row.
    with _naming_the_row(at, []), ExitStack() as stack:
        rows = _rows(stack, plan, core, window, with_key_text=False)
        into: RowSink | None = None
        armed = kill_points_armed()  # kill_point is dear per row
        selected, keys, written_columns = plan.selected, plan.keys, staged.columns
        width = len(written_columns)
        for values in rows:
            at.values = values
            read += 1
            if armed:
                kill_point("read")
            result = transform(dict(zip(selected, values, strict=False)))
            if armed:
                kill_point("transform")
            if result is None:
                skipped += 1
                continue
            if isinstance(result, Delete):  # deleted once the batch's rows are written
                deletes.delete_by_value(deletes.marker_key(result, at))
                continue
            if type(result) is not dict or len(result) != width:  # else: same keys, below
                staged.columns = written_columns = _check_output(result, written_columns, at)
                width = len(written_columns)
            if flagged and values[-1]:
                deletes.delete_by_value(deletes.flagged_key(result))
                continue
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
            check_keys(keys, result)  # the table would take a NULL key; staging refuses it
            write_row(written)
            if armed:
                kill_point("copy")
    return _counted(staged, deletes, read, skipped)


def _transform_of(plan: SyncPlan) -> Transform:
    transform = plan.definition.transform
    assert transform is not None  # a transform's plan
    return transform


def _rows(
    stack: ExitStack,
    plan: SyncPlan,
    core: psycopg.Connection[Any],
    window: q.Window,
    *,
    with_key_text: bool,
) -> Iterator[Any]:
    """The window's rows as read for the transform; ``stack`` ends the read. Entered
    before the sink, the read is closed after it: a failure aborts the write first, and
    stays the error."""
    reader = stack.enter_context(core.cursor())
    use_exact_json(reader)  # jsonb numbers reach the transform with every digit
    source_oids = [plan.source.columns[c].type_oid for c in plan.selected]
    binary = binary_copyable(core, source_oids)
    query = q.select_rows(plan, window, with_key_text=with_key_text)
    stream = reader.stream(query, binary=binary, size=TRANSFORM_READ_ROWS)
    assert isinstance(stream, Generator)  # psycopg's stream is one
    stack.enter_context(closing(stream))  # before the cursor: left early, it cancels
    return loaded_rows(reader, stream, binary=binary)


def _counted(staged: StagedBatch, deletes: RowDeletes, read: int, skipped: int) -> StagedBatch:
    staged.deleting, staged.deleted_keys = deletes.count, deletes.by_value
    staged.by_value = deletes.by_value_rows
    staged.read, staged.skipped = read, skipped
    return staged


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


@contextmanager
def _naming_the_row(at: RowAt, staged_keys: list[KeyText]) -> Iterator[None]:
    """A failure of the loop (the transform, encoding its output, or the server on our
    rows) as a RowError naming the row at fault, where one is to blame."""
    try:
        yield
    except (RowError, PreflightError, FastPathRefused, psycopg.OperationalError):
        raise
    except Exception as exc:
        error = _named_error(exc, at, staged_keys)
        if error is exc:
            raise
        raise error from exc


def _named_error(exc: Exception, at: RowAt, staged_keys: list[KeyText]) -> Exception:
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
