"""One run per definition at a time, from any machine, via an advisory lock (guarantee 10 of
docs/guarantees.md).

The lock has two modes. An incremental run (and planning a backfill, and its
hand-over) holds it exclusively: any other run of the definition exits 75.
The runners sharing a backfill's chunks hold it shared
(``pg_try_advisory_lock_shared`` on the same key): any number of them at
once, and never beside an exclusive holder, so an incremental run cannot
start while chunks are still being written, and no helper can join an
incremental run. Chunks have locks of their own (services/store/chunks.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from services.base import LockHeldError, redact

log = logging.getLogger(__name__)

# Namespaced so tablesync's keys never collide with an application's own locks. Every
# mode takes the one key, so a shared holder and an exclusive one always conflict.
_KEY = "hashtextextended('tablesync:' || %s || ':' || %s, 0)"
_TRY_LOCK_SQL = f"SELECT pg_try_advisory_lock({_KEY})"
_UNLOCK_SQL = f"SELECT pg_advisory_unlock({_KEY})"
_TRY_SHARED_SQL = f"SELECT pg_try_advisory_lock_shared({_KEY})"
_LOCK_SHARED_SQL = f"SELECT pg_advisory_lock_shared({_KEY})"
_UNLOCK_SHARED_SQL = f"SELECT pg_advisory_unlock_shared({_KEY})"
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
    if not try_lock(conn, job, definition) and not (
        orphan is not None and end_orphan(conn, orphan) and try_lock(conn, job, definition)
    ):
        raise lock_held(job, definition)
    try:
        yield
    finally:
        _unlock(conn, job, definition)


def try_lock(conn: psycopg.Connection[Any], job: str, definition: str) -> bool:
    """Take the definition's lock exclusively if no one holds it (in either mode)."""
    row = conn.execute(_TRY_LOCK_SQL, (job, definition)).fetchone()
    return bool(row and row[0])


def end_orphan(conn: psycopg.Connection[Any], pid: int) -> bool:
    """End this run's own lost analytics session ``pid`` if the server still has it
    holding an advisory lock; whether it did."""
    row = conn.execute(_END_ORPHAN_SQL, (pid,)).fetchone()
    if row and row[0]:
        log.warning(
            "ended this run's own lost analytics session (pid %d), which held its lock", pid
        )
    return bool(row and row[0])


def lock_held(job: str, definition: str) -> LockHeldError:
    """The error of a run that found the definition's lock taken (exit 75)."""
    return LockHeldError(
        f"{definition}: another run of {job} {definition} holds its lock (taken in"
        " analytics); nothing was done: let that run finish, then run again"
    )


def release_exclusive(conn: psycopg.Connection[Any], job: str, definition: str) -> None:
    """Let the exclusive lock go; never raises (see ``_unlock``)."""
    _unlock(conn, job, definition)


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


@contextmanager
def shared_definition_lock(
    conn: psycopg.Connection[Any], job: str, definition: str
) -> Iterator[None]:
    """Hold the definition's lock in shared mode on ``conn`` (a backfill runner's, taken
    again after its connection was lost); LockHeldError when an exclusive holder has it."""
    if not try_shared_lock(conn, job, definition):
        raise lock_held(job, definition)
    try:
        yield
    finally:
        release_shared(conn, job, definition)


def try_shared_lock(conn: psycopg.Connection[Any], job: str, definition: str) -> bool:
    """Take the definition's lock in shared mode (a backfill helper) unless an exclusive
    holder has it; released with ``release_shared`` or with the connection."""
    row = conn.execute(_TRY_SHARED_SQL, (job, definition)).fetchone()
    return bool(row and row[0])


def downgrade_lock(conn: psycopg.Connection[Any], job: str, definition: str) -> None:
    """From exclusive to shared without letting go: other backfill runners may join now.

    The shared lock is granted at once (a session's own locks never conflict
    with each other), then the exclusive one is released.
    """
    conn.execute(_LOCK_SHARED_SQL, (job, definition))
    conn.execute(_UNLOCK_SQL, (job, definition))


def release_shared(conn: psycopg.Connection[Any], job: str, definition: str) -> None:
    """Let the shared lock go; like ``_unlock``, never raises."""
    if conn.closed or conn.broken:
        return
    try:
        conn.execute(_UNLOCK_SHARED_SQL, (job, definition))
    except psycopg.Error as exc:
        log.warning("could not release the lock of %s %s: %s", job, definition, redact(exc))
