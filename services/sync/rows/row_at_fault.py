"""The row being handled, and the errors that name it: raised by the transform loop
(services/sync/transform/transform_loop.py) and the fast path, read back by a failed
run (services/sync/run/run_failure.py), so each finds them below itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

from services.base import Row, RowError


class FastPathRefused(Exception):
    """A row the straight COPY must not write (a NULL key): redo the batch the normal way."""


def check_keys(keys: list[str], row: dict[str, Any]) -> None:
    """Raise FastPathRefused when a transformed row has a NULL conflict column."""
    for key in keys:
        if row[key] is None:
            raise FastPathRefused(f"NULL in conflict column {key!r}")


@dataclass
class RowAt:
    """The row being handled, so an error can name it after the COPY aborts.

    Only the row as read is kept per row; its key and dict are made when an
    error needs them. With ``keyed``, the key's text follows the row's values.
    """

    selected: list[str]
    keyed: bool = True
    values: tuple[Any, ...] | None = None

    @property
    def key(self) -> tuple[str | None, str | None]:
        if self.values is None or not self.keyed:
            return (None, None)
        width = len(self.selected)
        return (self.values[width], self.values[width + 1])

    @property
    def row(self) -> Row | None:
        return None if self.values is None else dict(zip(self.selected, self.values, strict=False))


_COPY_LINE = re.compile(r"COPY \S+, line (\d+)")


def copy_line(exc: psycopg.Error) -> int | None:
    """The 1-based line of a COPY that the server rejected, when it says so."""
    context = exc.diag.context or ""
    match = _COPY_LINE.search(context)
    return int(match.group(1)) if match else None


def row_error(message: str, at: RowAt) -> RowError:
    """A RowError naming the row being handled."""
    return RowError(message, cursor_value=at.key[0], row_id=at.key[1], row=at.row)
