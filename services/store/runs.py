"""Guarantee 7 (docs/guarantees.md): one run record per definition run in ``tablesync.runs``."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from services.base import RUNNER_SCHEMA, Position, RunCounts, RunIdentity, RunStatus, redact

_RUNS = sql.Identifier(RUNNER_SCHEMA, "runs")
ABANDONED_TEXT = "the process running it died before it finished (found by the next run)"
# The note of a run its pre-flight check refused (contract rule 18): it wrote nothing.
REFUSED_NOTE = "refused by its pre-flight check before writing anything"


def _position_json(position: Position | None) -> Jsonb | None:
    return None if position is None else Jsonb(position.to_dict())


def abandon_dead_runs(conn: psycopg.Connection[Any], job: str, definition: str) -> int:
    """Mark ``running`` records of a definition as abandoned; call only while holding its lock."""
    cur = conn.execute(
        sql.SQL(
            "UPDATE {} SET status = %s, finished_at = now(), error_text = %s"
            " WHERE job = %s AND definition = %s AND status = %s"
        ).format(_RUNS),
        (RunStatus.ABANDONED.value, ABANDONED_TEXT, job, definition, RunStatus.RUNNING.value),
    )
    return cur.rowcount


def start_run(conn: psycopg.Connection[Any], who: RunIdentity, position: Position | None) -> int:
    """Insert a ``running`` record of ``who`` from ``position`` and return its id."""
    row = conn.execute(
        sql.SQL(
            "INSERT INTO {} (job, definition, status, cursor_before, cursor_after, host, pid,"
            " command, origin)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
        ).format(_RUNS),
        (
            who.job,
            who.definition,
            RunStatus.RUNNING.value,
            _position_json(position),
            _position_json(position),
            who.host,
            who.pid,
            redact(who.command),
            who.origin,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def record_progress(
    conn: psycopg.Connection[Any], run_id: int, counts: RunCounts, position: Position | None
) -> None:
    """Store counts and the new position; call inside the batch's transaction."""
    _update(conn, run_id, counts, position, status=None, error=None)


def finish_run(
    conn: psycopg.Connection[Any],
    run_id: int,
    *,
    status: RunStatus,
    counts: RunCounts,
    position: Position | None,
    error: str | None = None,
    note: str | None = None,
    resumes: int = 0,
) -> None:
    """Close the record with its final status, counts, (redacted) error text, note and
    the times it resumed after a lost connection."""
    _update(conn, run_id, counts, position, status=status, error=error, note=note)
    if resumes:  # the record starts at 0 and the count only grows: no round trip for none
        record_resumes(conn, run_id, resumes)


def record_resumes(conn: psycopg.Connection[Any], run_id: int, resumes: int) -> None:
    """How many times the run has resumed after a lost connection, so far."""
    conn.execute(
        sql.SQL("UPDATE {} SET resumes = %s WHERE id = %s").format(_RUNS), (resumes, run_id)
    )


def committed_counts(conn: psycopg.Connection[Any], run_id: int) -> RunCounts:
    """The counts the run's committed batches recorded (with their positions)."""
    row = conn.execute(
        sql.SQL(
            "SELECT rows_read, rows_created, rows_updated, rows_deleted, rows_skipped,"
            " rows_errors FROM {} WHERE id = %s"
        ).format(_RUNS),
        (run_id,),
    ).fetchone()
    assert row is not None, f"run record {run_id} is gone"
    read, created, updated, deleted, skipped, errors = (int(n) for n in row)
    return RunCounts(
        read=read, created=created, updated=updated, deleted=deleted, skipped=skipped, errors=errors
    )


def _update(
    conn: psycopg.Connection[Any],
    run_id: int,
    counts: RunCounts,
    position: Position | None,
    *,
    status: RunStatus | None,
    error: str | None,
    note: str | None = None,
) -> None:
    conn.execute(
        sql.SQL(
            "UPDATE {} SET rows_read = %s, rows_created = %s, rows_updated = %s,"
            " rows_deleted = %s, rows_skipped = %s, rows_errors = %s, rows_null_cursor = %s,"
            " cursor_after = %s,"
            " status = coalesce(%s, status),"
            " finished_at = CASE WHEN %s::text IS NULL THEN finished_at ELSE now() END,"
            " error_text = coalesce(%s, error_text), note = coalesce(%s, note)"
            " WHERE id = %s"
        ).format(_RUNS),
        (
            counts.read,
            counts.created,
            counts.updated,
            counts.deleted,
            counts.skipped,
            counts.errors,
            counts.null_cursor,
            _position_json(position),
            None if status is None else status.value,
            None if status is None else status.value,
            None if error is None else redact(error),
            None if note is None else redact(note),
            run_id,
        ),
    )


def record_operation(
    conn: psycopg.Connection[Any],
    who: RunIdentity,
    *,
    before: Position | None,
    after: Position | None,
    counts: RunCounts,
    note: str | None,
    error: str | None = None,
    started_at: float | None = None,
) -> int:
    """A finished run record for an operator's action (replay, full refresh, repair); its
    ``note`` says what was done; ``error``, when given, why it was refused (status failed).
    ``started_at`` (epoch seconds) dates the record back to the work it stands for (a full
    refresh's build), so its duration and rate are the load's, not the swap's instant."""
    run_id = start_run(conn, who, before)
    if started_at is not None:
        conn.execute(
            sql.SQL("UPDATE {} SET started_at = to_timestamp(%s) WHERE id = %s").format(_RUNS),
            (started_at, run_id),
        )
    status = RunStatus.FAILED if error else RunStatus.SUCCEEDED
    finish_run(conn, run_id, status=status, counts=counts, position=after, note=note, error=error)
    return run_id


def record_refusal(
    conn: psycopg.Connection[Any], who: RunIdentity, position: Position | None, *, error: str
) -> int:
    """A ``failed`` run record for a run its pre-flight check refused: ``error`` says why,
    the position is the saved one before and after (nothing moved), the note says so."""
    run_id = start_run(conn, who, position)
    finish_run(
        conn,
        run_id,
        status=RunStatus.FAILED,
        counts=RunCounts(),
        position=position,
        error=error,
        note=REFUSED_NOTE,
    )
    return run_id
