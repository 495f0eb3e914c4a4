"""Follower sessions (``--follow``): the live figures of each, in ``tablesync.follower_sessions``.

A follower writes its session's row when it starts following a definition, again at the
end of every cycle (the heartbeat: when, how many rows, how long), and once more when it
stops. What it wrote lives in its run records (services/follow/records.py); this row is
what ``--status``, the console and ``/metrics`` show of it now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import sql

from services.base import RUNNER_SCHEMA, redact

_SESSIONS = sql.Identifier(RUNNER_SCHEMA, "follower_sessions")
# A session whose heartbeat is older than this many cycles (plus a margin) is gone: its
# process died without saying so (kill -9, a lost node).
SILENT_CYCLES = 3
SILENT_MARGIN_S = 30.0


class FollowerState(StrEnum):
    """What a follower session is doing."""

    FOLLOWING = "following"
    RETRYING = "retrying"  # a cycle failed; the next try waits its backoff
    STOPPED = "stopped"


@dataclass(frozen=True)
class Cycle:
    """One finished cycle of a follower: the rows it moved and how long it took."""

    rows: int
    duration_s: float


@dataclass(frozen=True)
class FollowerSession:
    """A follower session as read back: its state now and its last cycle."""

    id: int
    job: str
    definition: str
    host: str
    pid: int
    every_s: float
    started_at: dt.datetime
    state: str
    heartbeat_at: dt.datetime
    cycles: int
    last_cycle_at: dt.datetime | None
    last_cycle_rows: int
    last_cycle_s: float | None
    rows_read: int
    run_id: int | None
    error: str | None
    now: dt.datetime  # the database's clock when read, for the heartbeat's age

    @property
    def live(self) -> bool:
        """Following or retrying, with a heartbeat recent enough to trust."""
        if self.state == FollowerState.STOPPED:
            return False
        silent_s = SILENT_CYCLES * self.every_s + SILENT_MARGIN_S
        return (self.now - self.heartbeat_at).total_seconds() <= silent_s


Conn = psycopg.Connection[Any]


def start_session(
    conn: Conn, *, job: str, definition: str, host: str, pid: int, every_s: float
) -> int:
    """A new ``following`` session; returns its id."""
    row = conn.execute(
        sql.SQL(
            "INSERT INTO {} (job, definition, host, pid, every_s, state)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
        ).format(_SESSIONS),
        (job, definition, host, pid, every_s, FollowerState.FOLLOWING.value),
    ).fetchone()
    assert row is not None
    return int(row[0])


def record_cycle(
    conn: Conn, session_id: int, cycle: Cycle, *, state: FollowerState, run_id: int | None
) -> None:
    """The heartbeat: a cycle ended (``state`` after it, the run record it counts in)."""
    conn.execute(
        sql.SQL(
            "UPDATE {} SET heartbeat_at = now(), cycles = cycles + 1, last_cycle_at = now(),"
            " last_cycle_rows = %s, last_cycle_s = %s, rows_read = rows_read + %s,"
            " state = %s, run_id = %s WHERE id = %s"
        ).format(_SESSIONS),
        (cycle.rows, cycle.duration_s, cycle.rows, state.value, run_id, session_id),
    )


def record_state(conn: Conn, session_id: int, state: FollowerState, error: str | None) -> None:
    """A change of state (retrying after a failure, following again, stopped) and why."""
    conn.execute(
        sql.SQL(
            "UPDATE {} SET heartbeat_at = now(), state = %s, error_text = %s WHERE id = %s"
        ).format(_SESSIONS),
        (state.value, None if error is None else redact(error), session_id),
    )


_COLUMNS = sql.SQL(
    "id, job, definition, host, pid, every_s, started_at, state, heartbeat_at, cycles,"
    " last_cycle_at, last_cycle_rows, last_cycle_s, rows_read, run_id, error_text, now()"
)


def latest_sessions(conn: Conn, job: str | None = None) -> dict[tuple[str, str], FollowerSession]:
    """The newest follower session of each (job, definition), of ``job`` or of every job."""
    where = sql.SQL("") if job is None else sql.SQL("WHERE job = %s")
    rows = conn.execute(
        sql.SQL(
            "SELECT DISTINCT ON (job, definition) {} FROM {} {} ORDER BY job, definition, id DESC"
        ).format(_COLUMNS, _SESSIONS, where),
        () if job is None else (job,),
    ).fetchall()
    return {(r[1], r[2]): FollowerSession(*r) for r in rows}
