"""README guarantee 10: one run per definition at a time, from any machine, via an advisory lock.

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

from services.base.errors import LockHeldError
from services.base.redact import redact

log = logging.getLogger(__name__)

# Namespaced so tablesync's keys never collide with an application's own locks.
_TRY_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtextextended('tablesync:' || %s || ':' || %s, 0))"
_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended('tablesync:' || %s || ':' || %s, 0))"
_TRY_SHARED_SQL = (
    "SELECT pg_try_advisory_lock_shared(hashtextextended('tablesync:' || %s || ':' || %s, 0))"
)
_LOCK_SHARED_SQL = (
    "SELECT pg_advisory_lock_shared(hashtextextended('tablesync:' || %s || ':' || %s, 0))"
)
_UNLOCK_SHARED_SQL = (
    "SELECT pg_advisory_unlock_shared(hashtextextended('tablesync:' || %s || ':' || %s, 0))"
)


@contextmanager
def definition_lock(conn: psycopg.Connection[Any], job: str, definition: str) -> Iterator[None]:
    """Hold the session-level advisory lock of ``job``/``definition`` on ``conn``.

    Raises LockHeldError at once when another session holds it. The lock dies
    with the connection, so a killed run never leaves it behind.
    """
    if not try_lock(conn, job, definition):
        raise lock_held(job, definition)
    try:
        yield
    finally:
        _unlock(conn, job, definition)


def try_lock(conn: psycopg.Connection[Any], job: str, definition: str) -> bool:
    """Take the definition's lock exclusively if no one holds it (in either mode)."""
    row = conn.execute(_TRY_LOCK_SQL, (job, definition)).fetchone()
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
