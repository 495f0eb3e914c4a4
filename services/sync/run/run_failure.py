"""What a failed run becomes: one classified TablesyncError with a message to act on.

Any exception out of the batch loop is given its place in the exception tree
(errors.py), the row at fault is named and saved where there is one, and the
message is redacted, so the CLI prints it as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from services.base import (
    Databases,
    PreflightError,
    RowError,
    RunError,
    RunResult,
    StoppedError,
    TablesyncError,
    TransientError,
    first_line,
    ids_from_text,
    redact,
    stopping,
)
from services.store import SyncPlan
from services.store import sql as q
from services.sync.rows import copy_line
from services.sync.run.failures import save_failed_row
from services.sync.run.resume import resumable_cause


def describe_row(plan: SyncPlan, exc: RowError) -> str:
    """``row at updatedAt=..., id=...`` for the row an error is about."""
    ids = ids_from_text(exc.row_id, len(plan.cursor_ids))
    return f"row at {plan.key_text(exc.cursor_value, ids)}"


def locate_copy_error(
    dbs: Databases, plan: SyncPlan, exc: psycopg.Error, window: q.Window | None
) -> RowError | None:
    """The source row a rejected COPY line came from, looked up again in core: the
    ``line``-th row of the window the failed batch or chunk read."""
    line = copy_line(exc)
    if line is None or window is None:
        return None
    try:
        with dbs.core.connection() as core:
            row = core.execute(q.row_at(plan, window, line - 1)).fetchone()
    except psycopg.Error:
        return None
    if row is None:
        return None
    return RowError(first_line(exc), cursor_value=row[0], row_id=row[1])


def classify(
    dbs: Databases,
    plan: SyncPlan,
    exc: BaseException,
    *,
    batches_committed: int,
    rows_committed: int = 0,
    backfill: bool = False,
    lost: str | None,
    resumes: int,
    failed_window: q.Window | None,
) -> TablesyncError:
    """Give any failure of a run its place in the exception tree and a clear message.

    ``lost`` names the databases whose connection broke; ``resumes`` says how many
    times the run rode out such a loss before this one."""
    signalled = stopping.error()
    if signalled is not None:  # whatever the stop made fail (a cancelled query, say)
        return _stopped(plan, signalled, rows_committed, backfill=backfill)
    if isinstance(exc, PreflightError) and (batches_committed or rows_committed):
        return RunError(str(exc))  # exit 2 promises nothing was written; this run wrote
    if isinstance(exc, TablesyncError) and not isinstance(exc, TransientError):
        return exc
    cause = resumable_cause(exc, lost)
    if cause is not None:
        retried = f" (after {resumes} resume(s), TABLESYNC_RUN_RETRIES)" if resumes else ""
        return TransientError(f"{plan.name}: {cause}{retried}")
    if isinstance(exc, psycopg.Error):
        located = locate_copy_error(dbs, plan, exc, failed_window)
        if located is not None:
            return located
        return RunError(f"{plan.name}: database error: {first_line(exc)}")
    return RunError(f"{plan.name}: {type(exc).__name__}: {first_line(exc)}")


def window_edges(window: q.Window) -> dict[str, Any]:
    """Where a batch starts and ends, as the run's result names a failed one (a backfill
    chunk: its heap blocks)."""
    pages = window.pages
    if pages is not None and pages.leaf is not None:  # a leaf partition's blocks
        leaf = pages.leaf
        return {"blocks": [pages.first, pages.end], "leaf": [leaf.oid, leaf.schema, leaf.name]}
    if pages is not None:
        return {"blocks": [pages.first, pages.end]}
    after, upper, mark = window.lower, window.upper, window.watermark
    edges: dict[str, Any] = {"after": None if after is None else after.to_dict()}
    if upper is None:  # a keyset batch not read yet: its rows up to the watermark
        edges["through"] = None
        edges["watermark"] = {"value": mark.value, "inclusive": mark.inclusive}
    else:
        edges["through"] = upper.to_dict()
    return edges


def report_failure(
    dbs: Databases,
    plan: SyncPlan,
    result: RunResult,
    error: TablesyncError,
    *,
    failures_dir: Path,
) -> TablesyncError:
    """Name the row at fault (saving it to a failure file in ``failures_dir``) and put the
    message on ``result``."""
    message = str(error)
    if isinstance(error, RowError):
        # The row at fault was read and not written: counted, so read still adds up.
        result.counts.read += 1
        result.counts.errors += 1
        message = f"{plan.name}: {describe_row(plan, error)}: {error}"
        path = save_failed_row(dbs.core, plan, error, message, base=failures_dir)
        if path is not None:
            error.failure_file = result.failure_file = str(path)
            message += f" (row saved to {path})"
    result.error = redact(message)
    error.args = (result.error,)
    return error


def _stopped(
    plan: SyncPlan, signalled: StoppedError, rows_committed: int, *, backfill: bool
) -> StoppedError:
    # Rows, not batches: a backfill commits chunks, and "0 batches" read as nothing done.
    unit = "chunk" if backfill else "batch"
    return StoppedError(
        f"{plan.name}: {signalled} after committing {rows_committed:,} row(s) in this run;"
        f" the {unit} in flight was rolled back: the next run goes on from there",
        signum=signalled.signum,
    )
