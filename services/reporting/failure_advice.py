"""What to do about a failed run: the destination column at fault and the change it needs.

PostgreSQL names the column in some errors (a NULL in a NOT NULL column, a column that
does not exist) and not in others ("value too long for type character varying(64)").
For those, the column is found from the failing row and the destination's types: the
one whose type the error names and whose value in the row breaks it. The advice is the
migration to write and the command to rerun after it, never a plain "resume", which
would fail again on the same row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from services.store import Column, Table

_TOO_LONG = re.compile(r"value too long for type (?P<type>character(?: varying)?\((?P<n>\d+)\))")
_NOT_NULL = re.compile(r'null value in column "(?P<column>(?:[^"]|"")+)"')
_MISSING = re.compile(r'column "(?P<column>(?:[^"]|"")+)" of relation "[^"]+" does not exist')
_SYNTAX = re.compile(r'invalid input syntax for type (?P<type>[\w ]+): "(?P<value>.*)"')
_RANGE = re.compile(r"(?P<type>smallint|integer|bigint) out of range")
_INT_LIMITS = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}


@dataclass(frozen=True)
class Advice:
    """The column at fault (when found), why, and what to do."""

    column: str | None
    column_type: str | None
    cause: str
    migration: str | None  # SQL for a new dbmate migration of analytics
    rerun: str
    then: str  # what else to do, in one sentence


def quoted(*names: str) -> str:
    """``"a"."b"``: identifiers quoted as PostgreSQL quotes them."""
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


def _find(
    table: Table, row: Mapping[str, Any], test: Callable[[Column, Any], bool]
) -> Column | None:
    for name, value in row.items():
        column = table.columns.get(name)
        if column is not None and value is not None and test(column, value):
            return column
    return None


def _too_long(table: Table, row: Mapping[str, Any], kind: str, limit: int) -> Column | None:
    return _find(table, row, lambda c, v: c.type_name == kind and len(str(v)) > limit)


def _out_of_range(table: Table, row: Mapping[str, Any], kind: str) -> Column | None:
    limit = _INT_LIMITS[kind]

    def breaks(column: Column, value: Any) -> bool:
        try:
            return column.type_name == kind and not -limit <= int(value) < limit
        except (TypeError, ValueError):
            return False

    return _find(table, row, breaks)


def advise(
    error: str | None, row: Mapping[str, Any] | None, table: Table | None, rerun: str
) -> Advice | None:
    """The advice for a run that failed with ``error`` on ``row``, written into ``table``
    (the destination as the catalog has it now); None when the error is not one of these."""
    if not error:
        return None
    row, dest = row or {}, table
    where = quoted(dest.schema, dest.name) if dest else "the destination table"
    if m := _TOO_LONG.search(error):
        column = _too_long(dest, row, m["type"], int(m["n"])) if dest else None
        return _widen(column, where, f"a value longer than {m['type']} allows", rerun)
    if m := _RANGE.search(error):
        column = _out_of_range(dest, row, m["type"]) if dest else None
        return _retype(
            column,
            where,
            f"a number out of {m['type']}'s range",
            "bigint" if m["type"] != "bigint" else "numeric",
            rerun,
        )
    if m := _SYNTAX.search(error):
        value, kind = m["value"], m["type"]
        column = (
            _find(dest, row, lambda c, v: c.base_type == kind and str(v) == value) if dest else None
        )
        return _retype(column, where, f"{value!r} is not a valid {kind}", "text", rerun)
    if m := _NOT_NULL.search(error):
        name = m["column"].replace('""', '"')
        column = dest.columns.get(name) if dest else None
        migration = f"ALTER TABLE {where} ALTER COLUMN {quoted(name)} DROP NOT NULL;"
        cause = f"the row has no value for {name}, which the destination requires"
        then = "or give the column a value in the transform (or select), then rerun"
        return Advice(name, column.type_name if column else None, cause, migration, rerun, then)
    if m := _MISSING.search(error):
        name = m["column"].replace('""', '"')
        cause = f"the destination has no column {name} (dropped or never added)"
        then = (
            "write the migration that adds it (python run_job.py scaffold --alter writes it),"
            " apply it (dbmate up), then rerun"
        )
        return Advice(name, None, cause, None, rerun, then)
    return None


def _widen(column: Column | None, where: str, cause: str, rerun: str) -> Advice:
    return _retype(column, where, cause, "text", rerun)


def _retype(column: Column | None, where: str, cause: str, wider: str, rerun: str) -> Advice:
    then = "apply it (dbmate up), then rerun; or change the transform so the value fits"
    if column is None:
        return Advice(
            None, None, cause, None, rerun, "widen the destination column it names, " + then
        )
    migration = (
        f"ALTER TABLE {where} ALTER COLUMN {quoted(column.name)} TYPE {wider}"
        f" USING {quoted(column.name)}::{wider};"
    )
    cause = f"{column.name} ({column.type_name}): {cause}"
    return Advice(column.name, column.type_name, cause, migration, rerun, then)
