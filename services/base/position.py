"""Sync state: the saved position of a definition, and the run's upper bound.

Values are kept in PostgreSQL's own text form of the typed value (exact for
timestamptz microseconds and numeric digits) and every query casts them back
to the cursor column's type, so comparisons are always typed, never textual.

A tie-breaker of one column keeps its value where the first release kept it
(``positions.cursor_id``, a run record's ``"id"``); one of several columns
(rule 16) keeps the list in ``positions.cursor_ids`` (migration
20261206110001) and in a record's ``"id"`` as a JSON list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg import sql

from services.base.constants import RUNNER_SCHEMA


@dataclass(frozen=True)
class Position:
    """The last exported row: its cursor value and, with a tie-breaker, the values of its
    id_field columns in order. Without ids, the next row is any past the cursor value."""

    value: str
    ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "id": _stored_id(self.ids)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Position | None:
        if not data or data.get("value") is None:
            return None
        return cls(value=str(data["value"]), ids=_ids_of(data.get("id")))

    @classmethod
    def from_key_text(cls, value: str, id_text: str | None, width: int) -> Position:
        """The position of a row whose key a query gave as text (services/store/sql.py's
        key columns): the cursor's text and the ids' (a JSON list when ``width`` > 1)."""
        return cls(value=value, ids=ids_from_text(id_text, width))


def ids_from_text(text: str | None, width: int) -> tuple[str, ...]:
    """The id values of a key text column: the id itself for one column, a JSON list of
    texts for several (an unambiguous encoding of values that may hold any character)."""
    if text is None or width == 0:
        return ()
    if width == 1:
        return (text,)
    return tuple(str(v) for v in orjson.loads(text))


def _stored_id(ids: tuple[str, ...]) -> str | list[str] | None:
    if not ids:
        return None
    return ids[0] if len(ids) == 1 else list(ids)


def _ids_of(stored: Any) -> tuple[str, ...]:
    if stored is None:
        return ()
    if isinstance(stored, list | tuple):
        return tuple(str(v) for v in stored)
    return (str(stored),)


IdField = str | Sequence[str] | None  # cursor.id_field as a definition gives it


def id_names(id_field: IdField) -> tuple[str, ...]:
    """The tie-breaker's column names of an ``id_field`` (one name, a list, or None)."""
    if id_field is None:
        return ()
    return (id_field,) if isinstance(id_field, str) else tuple(id_field)


def named_key(cursor_field: str, id_field: IdField, value: Any, ids: Any) -> dict[str, Any]:
    """A key keyed by column names, e.g. ``{"updatedAt": ..., "actor_id": ..., "film_id": ...}``;
    ``ids`` is one id, a list of them, or None. Ids a definition no longer names are "id"."""
    named: dict[str, Any] = {cursor_field: value}
    id_fields = id_names(id_field)
    values = list(ids) if isinstance(ids, list | tuple) else ([] if ids is None else [ids])
    if len(values) == len(id_fields):
        named.update(zip(id_fields, values, strict=True))
    elif values:
        named["id"] = values[0] if len(values) == 1 else values
    return named


def key_text(cursor_field: str, id_field: IdField, value: Any, ids: Any) -> str:
    """``updatedAt=..., id=...``: a row's key for a message."""
    named = named_key(cursor_field, id_field, value, ids)
    return ", ".join(f"{name}={v}" for name, v in named.items())


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
        sql.SQL(
            "SELECT cursor_value, cursor_id, cursor_ids FROM {} WHERE job = %s AND definition = %s"
        ).format(_POSITIONS),
        (job, definition),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return Position(value=row[0], ids=stored_ids(row[1], row[2]))


def forget_position(conn: psycopg.Connection[Any], job: str, definition: str) -> None:
    """Drop the saved position of ``job``/``definition``: its next run starts afresh."""
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE job = %s AND definition = %s").format(_POSITIONS),
        (job, definition),
    )


def stored_ids(single: str | None, several: list[str] | None) -> tuple[str, ...]:
    """The ids of a stored position: ``several`` (a composite tie-breaker's) only where
    ``single`` is empty, so a position written by a release that knows only ``single``
    is read as it wrote it."""
    if single is not None:
        return (single,)
    return tuple(several) if several else ()


def stored_columns(position: Position | None) -> tuple[str | None, str | None, list[str] | None]:
    """(value, the one id, the several ids) as the runner's tables store a position."""
    if position is None:
        return None, None, None
    ids = position.ids
    return position.value, ids[0] if len(ids) == 1 else None, list(ids) if len(ids) > 1 else None


def save_position(
    conn: psycopg.Connection[Any], job: str, definition: str, position: Position | None
) -> None:
    """Store ``position`` in the caller's transaction; it commits with the batch."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {} AS p (job, definition, cursor_value, cursor_id, cursor_ids, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, now())"
            " ON CONFLICT (job, definition) DO UPDATE"
            " SET cursor_value = EXCLUDED.cursor_value, cursor_id = EXCLUDED.cursor_id,"
            " cursor_ids = EXCLUDED.cursor_ids, updated_at = EXCLUDED.updated_at"
        ).format(_POSITIONS),
        (job, definition, *stored_columns(position)),
    )
