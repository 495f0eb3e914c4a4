"""Schedules run by ``serve``: one claim per (definition, due time), in schedule_claims.

Every console computes the same due times (services/base/schedule.py). Before running a
due definition, a console inserts its claim; the primary key lets exactly one insert in,
so however many consoles are up, a definition runs once per due time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg import sql

from services.base import RUNNER_SCHEMA

_CLAIMS = sql.Identifier(RUNNER_SCHEMA, "schedule_claims")
Conn = psycopg.Connection[Any]


def claim_due(
    conn: Conn, *, job: str, definition: str, due_at: dt.datetime, host: str, pid: int
) -> bool:
    """Claim ``definition``'s run for ``due_at``; False when another console has."""
    cur = conn.execute(
        sql.SQL(
            "INSERT INTO {} (job, definition, due_at, host, pid) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING"
        ).format(_CLAIMS),
        (job, definition, due_at, host, pid),
    )
    return cur.rowcount == 1


def record_claim_outcome(
    conn: Conn,
    *,
    job: str,
    definition: str,
    due_at: dt.datetime,
    run_id: int | None,
    outcome: str,
) -> None:
    """What the claimed due time led to: the run it started, or why none ran."""
    conn.execute(
        sql.SQL(
            "UPDATE {} SET run_id = %s, outcome = %s"
            " WHERE job = %s AND definition = %s AND due_at = %s"
        ).format(_CLAIMS),
        (run_id, outcome, job, definition, due_at),
    )


def latest_claims(conn: Conn, job: str | None = None) -> dict[tuple[str, str], dt.datetime]:
    """The newest due time claimed for each (job, definition)."""
    where = sql.SQL("") if job is None else sql.SQL("WHERE job = %s")
    rows = conn.execute(
        sql.SQL("SELECT job, definition, max(due_at) FROM {} {} GROUP BY job, definition").format(
            _CLAIMS, where
        ),
        () if job is None else (job,),
    ).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def claims_of(conn: Conn, job: str, definition: str) -> list[tuple[dt.datetime, int | None]]:
    """Every claim of one definition, oldest first: (due time, run id)."""
    rows = conn.execute(
        sql.SQL(
            "SELECT due_at, run_id FROM {} WHERE job = %s AND definition = %s ORDER BY due_at"
        ).format(_CLAIMS),
        (job, definition),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]
