"""A run's connections and lock: taken from the pools, watched for stalls while the run
holds them, and taken again for those lost (services/sync/run/resume.py says when)."""

from __future__ import annotations

import weakref
from contextlib import ExitStack
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from services.base import Databases, LockHeldError, stall
from services.store import definition_lock, shared_definition_lock

Conn = psycopg.Connection[Any]
# Seconds a resume waits for a connection from the pool (the server may still be down).
RECONNECT_TIMEOUT_S = 10.0
_backend_pids: weakref.WeakKeyDictionary[Conn, int] = weakref.WeakKeyDictionary()


def watched_connection(
    pool: ConnectionPool,
    held: ExitStack,
    *,
    name: str,
    stall_s: float | None,
    timeout: float | None = None,
) -> Conn:
    """A connection of ``pool`` in autocommit, watched for stalls (services/base/stall.py)
    and handed back when ``held`` closes; ``name`` is its database's, for the log."""
    conn = held.enter_context(pool.connection(timeout=timeout))
    conn.autocommit = True
    held.enter_context(stall.watched(stall_s, **{name: conn}))
    _backend_pids[conn] = conn.info.backend_pid  # a lost connection no longer tells
    return conn


def connection_lost(conn: Conn) -> bool:
    return conn.broken or conn.closed


def replace_lost_connections(
    dbs: Databases,
    held: ExitStack,
    core: Conn,
    analytics: Conn,
    *,
    job: str,
    definition: str,
    shared: bool = False,
) -> tuple[Conn, Conn]:
    """(core, analytics): the ones given, or fresh ones for those lost; the definition's lock
    again with a fresh analytics connection, since it died with the old one (``shared``: in
    the mode of a backfill's runners, services/sync/run/run_lock.py)."""
    stall_s = dbs.timeouts.stall_s
    if connection_lost(core):
        core = watched_connection(
            dbs.core, held, name="core", stall_s=stall_s, timeout=RECONNECT_TIMEOUT_S
        )
    if connection_lost(analytics):
        orphan = _backend_pids.get(analytics)  # the server may still have that session
        # The fresh connection is held only with the lock: a follower retries this, and
        # each attempt that met another run's lock would otherwise keep one from the pool.
        with ExitStack() as fresh:
            analytics = watched_connection(
                dbs.analytics, fresh, name="analytics", stall_s=stall_s, timeout=RECONNECT_TIMEOUT_S
            )
            try:
                lock = (
                    shared_definition_lock(analytics, job, definition)
                    if shared
                    else definition_lock(analytics, job, definition, orphan=orphan)
                )
                fresh.enter_context(lock)
            except LockHeldError:
                raise LockHeldError(
                    f"{definition}: lost the analytics connection and its lock with it, which"
                    " another run now holds: that run goes on from the last committed batch"
                ) from None
            held.enter_context(fresh.pop_all())
    return core, analytics
