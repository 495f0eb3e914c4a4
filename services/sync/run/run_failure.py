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
    Position,
    PreflightError,
    RowError,
    RunError,
    RunResult,
    StoppedError,
    TablesyncError,
    TransientError,
    Watermark,
    first_line,
    ids_from_text,
    redact,
    stopping,
)
from services.store import SyncPlan
from services.store import sql as q
from services.sync.run.failures import save_failed_row
from services.sync.run.resume import resumable_cause
from services.sync.write import copy_line


def describe_row(plan: SyncPlan, exc: RowError) -> str:
    """``row at updatedAt=..., id=...`` for the row an error is about."""
    ids = ids_from_text(exc.row_id, len(plan.cursor_ids))
    return f"row at {plan.key_text(exc.cursor_value, ids)}"


def locate_copy_error(
    dbs: Databases, plan: SyncPlan, exc: psycopg.Error, batch: dict[str, Any] | None
) -> RowError | None:
    """The source row a rejected COPY line came from, looked up again in core."""
    line = copy_line(exc)
    if line is None or batch is None:
        return None
    if "blocks" in batch:  # a backfill chunk: its rows in the heap's order
        first, end = batch["blocks"]
        leaf = q.Leaf(*batch["leaf"]) if batch.get("leaf") else None
        bounds = q.Window(None, None, Watermark(None, True), q.PageRange(first, end, leaf))
    else:
        through, mark = batch["through"], batch.get("watermark") or {}
        bounds = q.Window(
            lower=Position.from_dict(batch["after"]),
            upper=Position.from_dict(through),
            # A keyset batch (its end never read): its rows in order up to the watermark.
            watermark=Watermark(value=through["value"], inclusive=True)
            if through is not None
            else Watermark(value=mark.get("value"), inclusive=bool(mark.get("inclusive"))),
        )
    try:
        with dbs.core.connection() as core:
            row = core.execute(q.row_at(plan, bounds, line - 1)).fetchone()
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
    failed_batch: dict[str, Any] | None,
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
        located = locate_copy_error(dbs, plan, exc, failed_batch)
        if located is not None:
            return located
        return RunError(f"{plan.name}: database error: {first_line(exc)}")
    return RunError(f"{plan.name}: {type(exc).__name__}: {first_line(exc)}")


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
