"""Which column a scaffolded definition reads rows in order of: the rule, in one place.

A table's cursor is the timestamp column (``timestamp`` or ``timestamptz``) whose name,
lowercased and without ``_``, ``-`` or spaces, comes first in CURSOR_NAMES: ``updated_at``,
``updatedAt`` and ``UpdatedAt`` all count as ``updatedat``. No such column, or two that
rank alike (``updated_at`` and ``updatedAt``), and the user names one with ``--cursor``.
"""

from __future__ import annotations

import re

from services.base import ConfigurationError, did_you_mean
from services.scaffold._tables import TableShape

# Best first: the names applications give the column their ORM or trigger keeps current.
CURSOR_NAMES = (
    "updatedat",
    "updatedon",
    "updated",
    "lastupdatedat",
    "lastupdated",
    "lastupdate",
    "modifiedat",
    "modifiedon",
    "modified",
    "lastmodifiedat",
    "lastmodified",
    "updatetime",
    "updatetimestamp",
    "modificationtime",
    "changedat",
    "lastchanged",
    "mtime",
)
CURSOR_TYPES = ("timestamp with time zone", "timestamp without time zone")


def _folded(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.casefold())


def _is_timestamp(formatted: str) -> bool:
    # format_type writes a precision inside: timestamp(3) with time zone.
    return re.sub(r"\(\d+\)", "", formatted) in CURSOR_TYPES


def choose_cursor(table: TableShape, given: str | None) -> str:
    """The cursor column of ``table``: ``given`` when the user named one, else by the rule."""
    names = [c.name for c in table.columns]
    if given is not None:
        if given not in names:
            raise ConfigurationError(
                f"--cursor: core table {table.qualified} has no column {given!r}"
                + did_you_mean(given, names)
            )
        return given
    ranked = {
        c.name: CURSOR_NAMES.index(_folded(c.name))
        for c in table.columns
        if _is_timestamp(c.type.formatted) and _folded(c.name) in CURSOR_NAMES
    }
    best = sorted(ranked, key=lambda n: ranked[n])
    if best and (len(best) == 1 or ranked[best[0]] < ranked[best[1]]):
        return best[0]
    if best:
        tied = ", ".join(n for n in best if ranked[n] == ranked[best[0]])
        reason = f"both {tied} could be its cursor"
    else:
        reason = "no timestamp column named like updated_at, updatedAt, last_update or modified"
    raise ConfigurationError(
        f"core table {table.qualified}: {reason}; name the column rows are read in order of"
        f" with --cursor {table.name}=COLUMN (columns: {', '.join(names)})"
    )
