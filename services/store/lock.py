"""README guarantee 10: one run per definition at a time, from any machine, via an advisory lock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from services.base.errors import LockHeldError
from services.base.redact import redact

log = logging.getLogger(__name__)

# Namespaced so tablesync's keys never collide with an application's own locks.
_TRY_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtextextended('tablesync:' || %s || ':' || %s, 0))"
_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended('tablesync:' || %s || ':' || %s, 0))"
# This run's own lost session, if the server still has it (a half-open connection it has
# not noticed yet): tablesync's, holding an advisory lock. Ended, waiting up to 5 s.
_END_ORPHAN_SQL = (
    "SELECT pg_terminate_backend(a.pid, 5000) FROM pg_stat_activity a"
    " JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted"
    " WHERE a.pid = %s AND a.application_name LIKE 'tablesync:%%'"
)


@contextmanager
def definition_lock(
    conn: psycopg.Connection[Any], job: str, definition: str, *, orphan: int | None = None
) -> Iterator[None]:
    """Hold the session-level advisory lock of ``job``/``definition`` on ``conn``.

    Raises LockHeldError at once when another session holds it. The lock dies
    with the connection, so a killed run never leaves it behind. ``orphan`` is
    the backend pid of this run's own analytics session that was lost: if the
    server still has it, holding the lock, it is ended first.
    """
    if not _try_lock(conn, job, definition) and not (
        orphan is not None and _end_orphan(conn, orphan) and _try_lock(conn, job, definition)
    ):
        raise LockHeldError(
            f"{definition}: another run of {job} {definition} holds its lock (taken in"
            " analytics); nothing was done: let that run finish, then run again"
        )
    try:
        yield
    finally:
        _unlock(conn, job, definition)


def _try_lock(conn: psycopg.Connection[Any], job: str, definition: str) -> bool:
    row = conn.execute(_TRY_LOCK_SQL, (job, definition)).fetchone()
    return bool(row and row[0])


def _end_orphan(conn: psycopg.Connection[Any], pid: int) -> bool:
    row = conn.execute(_END_ORPHAN_SQL, (pid,)).fetchone()
    if row and row[0]:
        log.warning(
            "ended this run's own lost analytics session (pid %d), which held its lock", pid
        )
    return bool(row and row[0])


def _unlock(conn: psycopg.Connection[Any], job: str, definition: str) -> None:
    # Never raise from here: an unlock that fails (the server went away) must
    # not hide the run's own error, and the lock died with the session anyway.
    if conn.closed or conn.broken:
        return
    try:
        conn.rollback()
        conn.execute(_UNLOCK_SQL, (job, definition))
        conn.commit()
    except psycopg.Error as exc:
        log.warning("could not release the lock of %s %s: %s", job, definition, redact(exc))


def lock_is_held(conn: psycopg.Connection[Any], job: str, definition: str) -> bool:
    """Whether some session holds the lock of ``job``/``definition`` now: taken and given
    back at once when free, so the answer is the one a run starting now would get."""
    row = conn.execute(_TRY_LOCK_SQL, (job, definition)).fetchone()
    if not (row and row[0]):
        return True
    conn.execute(_UNLOCK_SQL, (job, definition))
    return False
