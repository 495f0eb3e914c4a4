"""Sync state: the saved position of a definition, and the run's upper bound.

Values are kept in PostgreSQL's own text form of the typed value (exact for
timestamptz microseconds and numeric digits) and every query casts them back
to the cursor column's type, so comparisons are always typed, never textual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.base.constants import RUNNER_SCHEMA


@dataclass(frozen=True)
class Position:
    """The last exported row: its cursor value and, with a tie-breaker, its id."""

    value: str
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "id": self.id}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Position | None:
        if not data or data.get("value") is None:
            return None
        return cls(value=str(data["value"]), id=None if data.get("id") is None else str(data["id"]))


@dataclass(frozen=True)
class Watermark:
    """The run's upper bound, fixed when it starts: rows past it wait for a later run."""

    value: str | None  # None: there is nothing to read yet
    inclusive: bool
    held_back: str | None = None  # why the bound is lower than the newest row, if it is


_POSITIONS = sql.Identifier(RUNNER_SCHEMA, "positions")


def load_position(conn: psycopg.Connection[Any], job: str, definition: str) -> Position | None:
    """The saved position of ``job``/``definition``, or None before its first batch."""
    row = conn.execute(
        sql.SQL("SELECT cursor_value, cursor_id FROM {} WHERE job = %s AND definition = %s").format(
            _POSITIONS
        ),
        (job, definition),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return Position(value=row[0], id=row[1])


def save_position(
    conn: psycopg.Connection[Any], job: str, definition: str, position: Position | None
) -> None:
    """Store ``position`` in the caller's transaction; it commits with the batch."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {} AS p (job, definition, cursor_value, cursor_id, updated_at)"
            " VALUES (%s, %s, %s, %s, now())"
            " ON CONFLICT (job, definition) DO UPDATE"
            " SET cursor_value = EXCLUDED.cursor_value, cursor_id = EXCLUDED.cursor_id,"
            " updated_at = EXCLUDED.updated_at"
        ).format(_POSITIONS),
        (
            job,
            definition,
            None if position is None else position.value,
            None if position is None else position.id,
        ),
    )
