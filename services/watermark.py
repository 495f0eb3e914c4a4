"""Rule 8: an upper bound below which no in-flight core transaction can still commit a row.

Timestamp cursors (filled by ``now()`` in the writing transaction) get the
start of the oldest open transaction in the core database: anything it
writes carries a cursor value at or after that instant. Other cursors
(bigserial ids and the like) get the largest value visible now, but only once
every transaction that held a write lock on the source table when that value
was read has ended, since such a transaction may hold a smaller id.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

from services.constants import APPLICATION_NAME
from services.plan import SyncPlan
from services.position import Position, Watermark
from services.sql import ident

WRITER_WAIT_S = 5.0
_POLL_S = 0.05

_OLDEST_TRANSACTION_SQL = """
SELECT statement_timestamp()::text,
       min(xact_start)::text,
       (array_agg(pid ORDER BY xact_start))[1],
       count(*) FILTER (WHERE state IS NULL)
FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
  AND coalesce(application_name, '') NOT LIKE %s
  AND (xact_start IS NOT NULL OR state IS NULL)
"""

_WRITERS_SQL = """
SELECT DISTINCT l.virtualtransaction
FROM pg_locks l
WHERE l.locktype = 'relation' AND l.relation = %s::regclass
  AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
                 'AccessExclusiveLock')
  AND l.pid IS DISTINCT FROM pg_backend_pid()
"""


def _timestamp_watermark(conn: psycopg.Connection[Any], lag_s: float) -> Watermark:
    now, oldest, pid, unseen = conn.execute(
        _OLDEST_TRANSACTION_SQL, (f"{APPLICATION_NAME}:%",)
    ).fetchone() or (None, None, None, 0)
    held_back = None
    bound = now
    if oldest is not None:
        bound = oldest
        held_back = f"an open core transaction (pid {pid}) started at {oldest}"
    if unseen:
        held_back = (
            f"{unseen} core session(s) of other roles cannot be seen (grant pg_read_all_stats"
            " to the core role); relying on the definition's safety lag"
        )
    if lag_s:
        row = conn.execute(
            "SELECT (CAST(%s AS timestamptz) - make_interval(secs => %s))::text", (bound, lag_s)
        ).fetchone()
        bound = row[0] if row else bound
    return Watermark(value=bound, inclusive=False, held_back=held_back)


def _open_writers(conn: psycopg.Connection[Any], table: str) -> set[str]:
    return {r[0] for r in conn.execute(_WRITERS_SQL, (table,))}


def _sequence_watermark(
    conn: psycopg.Connection[Any], plan: SyncPlan, saved: Position | None, wait_s: float
) -> Watermark:
    table = sql.SQL("{}").format(ident(plan.source.schema, plan.source.name)).as_string(conn)
    newest_row = conn.execute(
        sql.SQL("SELECT max({})::text FROM {}").format(
            ident(plan.cursor.name), ident(plan.source.schema, plan.source.name)
        )
    ).fetchone()
    newest = newest_row[0] if newest_row else None
    writers = _open_writers(conn, table)
    deadline = time.monotonic() + wait_s
    while writers and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        writers &= _open_writers(conn, table)
    if not writers:
        return Watermark(value=newest, inclusive=True)
    # A writer that outlived the wait may hold any value above what was
    # exported: stay where we are.
    return Watermark(
        value=None if saved is None else saved.value,
        inclusive=True,
        held_back=f"{len(writers)} open core transaction(s) writing to {plan.source.qualified}",
    )


def compute_watermark(
    conn: psycopg.Connection[Any],
    plan: SyncPlan,
    saved: Position | None,
    *,
    safety_lag_s: float = 0.0,
    writer_wait_s: float = WRITER_WAIT_S,
) -> Watermark:
    """The run's fixed upper bound for ``plan``; ``conn`` is an autocommit core connection."""
    if plan.cursor.is_timestamp:
        return _timestamp_watermark(conn, safety_lag_s)
    return _sequence_watermark(conn, plan, saved, writer_wait_s)
