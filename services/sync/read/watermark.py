"""Rule 8: an upper bound below which no in-flight core transaction can still commit a row.

Timestamp cursors (filled by ``now()`` in the writing transaction) get the
start of the oldest open transaction in the core database: anything it
writes carries a cursor value at or after that instant. Other cursors
(bigserial ids and the like) get the largest value visible now, but only once
every transaction that held a write lock on the source table when that value
was read has ended, since such a transaction may hold a smaller id.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from psycopg import sql

from services.base import APPLICATION_NAME, Position, Watermark
from services.store import SyncPlan, ident
from services.store import sql as q

log = logging.getLogger(__name__)

_POLL_S = 0.05

# Sessions of other roles show no xact_start without pg_read_all_stats: they
# are counted (state IS NULL) so the run can say it could not see them.
_OLDEST_TRANSACTION_SQL = """
SELECT statement_timestamp()::text,
       min(xact_start)::text,
       (array_agg(pid ORDER BY xact_start))[1],
       count(*) FILTER (WHERE state IS NULL),
       pg_is_in_recovery()
FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  -- Other roles' sessions show no backend_type either: keep those with a user.
  AND (backend_type = 'client backend' OR (backend_type IS NULL AND usesysid IS NOT NULL))
  AND coalesce(application_name, '') NOT LIKE %s
  AND (xact_start IS NOT NULL OR state IS NULL)
"""

# Every role sees every virtualxid lock: one per open transaction.
_UNSEEN_TRANSACTIONS_SQL = """
SELECT l.virtualxid
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'virtualxid' AND l.granted
  AND a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.backend_type IS NULL AND a.usesysid IS NOT NULL
"""

_WRITERS_SQL = """
SELECT DISTINCT l.virtualtransaction
FROM pg_locks l
WHERE l.locktype = 'relation' AND l.relation = %s::regclass
  AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
                 'AccessExclusiveLock')
  AND l.pid IS DISTINCT FROM pg_backend_pid()
"""


def _rows_at_or_after(conn: psycopg.Connection[Any], plan: SyncPlan, bound: str) -> bool:
    row = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} >= CAST({} AS {}))").format(
            q.source_table(plan),
            ident(plan.cursor.name),
            sql.Literal(bound),
            sql.SQL(plan.cursor.type_name),
        )
    ).fetchone()
    return bool(row and row[0])


def _minus_lag(conn: psycopg.Connection[Any], bound: str, lag_s: float) -> str:
    row = conn.execute(
        "SELECT (CAST(%s AS timestamptz) - make_interval(secs => %s))::text", (bound, lag_s)
    ).fetchone()
    return str(row[0]) if row else bound


def _still_open(
    conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...], wait_s: float
) -> set[str]:
    """The transactions ``query`` lists now that are still open after up to ``wait_s``."""
    open_now = {r[0] for r in conn.execute(query, params)}
    deadline = time.monotonic() + wait_s
    while open_now and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        open_now &= {r[0] for r in conn.execute(query, params)}
    return open_now


def _hold(saved: Position | None, why: str) -> Watermark:
    """Stay at the saved position: nothing past it is read this run."""
    return Watermark(value=None if saved is None else saved.value, inclusive=False, held_back=why)


def _timestamp_watermark(
    conn: psycopg.Connection[Any],
    plan: SyncPlan,
    saved: Position | None,
    lag_s: float,
    wait_s: float,
) -> Watermark:
    row = conn.execute(_OLDEST_TRANSACTION_SQL, (f"{APPLICATION_NAME}:%",)).fetchone()
    assert row is not None  # an aggregate always returns its row
    now, oldest, pid, unseen, standby = row
    bound: str = now if oldest is None else oldest
    why = None
    if oldest is not None:
        why = f"an open core transaction (pid {pid}) started at {oldest}"
    if standby:
        why = (
            "core is a standby, where the primary's open transactions cannot be seen;"
            " relying on the definition's safety lag"
        )
        if not lag_s:
            log.warning("%s: %s, which is 0: set safety_lag_s", plan.name, why)
    elif unseen:
        # Other roles' transactions show no start, but every role sees their
        # virtualxid locks: wait for those open now to end (then they are
        # visible), as CREATE INDEX CONCURRENTLY waits for old transactions.
        left = _still_open(conn, _UNSEEN_TRANSACTIONS_SQL, (), wait_s)
        if left and not lag_s:
            return _hold(
                saved,
                f"{len(left)} open core transaction(s) of other roles did not end within"
                f" {wait_s:g} s (their start is invisible without pg_read_all_stats)",
            )
        if left:
            why = f"{len(left)} open core transaction(s) of other roles; relying on the safety lag"
    if lag_s:
        bound = _minus_lag(conn, bound, lag_s)
    # Say "held back" only when rows really wait for a later run.
    held_back = why if why and _rows_at_or_after(conn, plan, bound) else None
    return Watermark(value=bound, inclusive=False, held_back=held_back)


def _sequence_watermark(
    conn: psycopg.Connection[Any], plan: SyncPlan, saved: Position | None, wait_s: float
) -> Watermark:
    source = q.source_table(plan)
    table = source.as_string(conn)
    # max() first, writers second: a writer that commits in between is visible
    # to the batches' reads; one still open is waited for.
    newest_row = conn.execute(
        sql.SQL("SELECT max({})::text FROM {}").format(ident(plan.cursor.name), source)
    ).fetchone()
    newest = newest_row[0] if newest_row else None
    writers = _still_open(conn, _WRITERS_SQL, (table,), wait_s)
    if not writers:
        return Watermark(value=newest, inclusive=True)
    # A writer that outlived the wait may hold any value above what was
    # exported: stay where we are.
    return Watermark(
        value=None if saved is None else saved.value,
        inclusive=True,
        held_back=(
            f"{len(writers)} open core transaction(s) writing to {plan.source.qualified}"
            f" did not end within {wait_s:g} s"
        ),
    )


def compute_watermark(
    conn: psycopg.Connection[Any],
    plan: SyncPlan,
    saved: Position | None,
    *,
    safety_lag_s: float = 0.0,
    wait_s: float,
) -> Watermark:
    """The run's fixed upper bound for ``plan``; ``conn`` is an autocommit core connection.

    Rows at or past the bound wait for a later run; ``Watermark.held_back``
    says why when rows do wait.
    """
    if plan.cursor.is_timestamp:
        return _timestamp_watermark(conn, plan, saved, safety_lag_s, wait_s)
    return _sequence_watermark(conn, plan, saved, wait_s)


def null_cursor_rows(core: psycopg.Connection[Any], plan: SyncPlan) -> int:
    """Rows no window will ever hold because their cursor or tie-breaker is NULL (guarantee 5
    of docs/guarantees.md); 0 without a query when both columns are NOT NULL in core."""
    query = q.count_unexportable(plan)
    if query is None:
        return 0
    row = core.execute(query).fetchone()
    return int(row[0]) if row else 0
