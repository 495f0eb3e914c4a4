"""The guard against mass deletion: no one go deletes more than a fraction of a destination.

A repair that found many extra rows, or a run reading many soft-deleted ones,
is more often a mistake upstream (a bad migration, a truncated view, a core
URL pointing at the wrong database) than a real purge. Before deleting, the
caller asks the guard; past ``TABLESYNC_MAX_DELETE_FRACTION`` (default 0.1)
of the destination's rows it raises MassDeleteError and nothing is deleted,
unless the operator said ``--yes``.

The destination is never counted in full: the guard counts at most twice the
rows the fraction needs to allow the deletion (``LIMIT``), so a check costs
about 20 index or heap rows per row deleted, and remembers what it learnt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.base import DEFAULT_MAX_DELETE_FRACTION, MAX_DELETE_FRACTION_VARIABLE, MassDeleteError
from services.store.plan import SyncPlan
from services.store.sql import destination_table


def count_at_most(conn: psycopg.Connection[Any], plan: SyncPlan, limit: int) -> int:
    """The destination's rows, counted up to ``limit`` (a probe, never a full count)."""
    query = sql.SQL("SELECT count(*) FROM (SELECT FROM {} LIMIT {}) AS probe").format(
        destination_table(plan), sql.Literal(limit)
    )
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class DeleteLimit:
    """How much one go may delete: the fraction, and whether the operator said ``--yes``."""

    fraction: float = DEFAULT_MAX_DELETE_FRACTION
    allowed: bool = False


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}".rstrip("0").rstrip(".") + "%"


@dataclass
class DeleteGuard:
    """Checks one go's deletions (a repair, or a run batch by batch) against the fraction.

    ``known_rows`` is what the guard has learnt: the destination held at least
    that many rows before this go deleted any (its own deletes do not lower it).
    """

    plan: SyncPlan
    fraction: float
    allowed: bool = False  # --yes
    known_rows: int = 0

    def check(
        self,
        conn: psycopg.Connection[Any],
        *,
        deleting: int,
        deleted: int = 0,
        hint: str = "",
        up_to: bool = False,
        applied: bool = False,
    ) -> None:
        """Raise MassDeleteError when ``deleted`` (already, this go) + ``deleting`` is more
        than the fraction of the destination's rows before the go; ``hint`` ends the line,
        ``up_to`` says ``deleting`` is a bound, not a count, ``applied`` that it is done in
        the caller's transaction (which the error rolls back). An empty destination loses
        nothing: deletes of keys it does not hold delete nothing."""
        total = deleted + deleting
        if self.allowed or deleting <= 0 or total <= self.fraction * self.known_rows:
            return
        gone = total if applied else deleted  # not in the table any more, still in its base
        # Twice what the deletion needs, so a run deleting batch after batch recounts
        # rarely; a fraction of 0 refuses every delete, counting only for the message.
        limit = math.ceil(2 * total / self.fraction) - gone if self.fraction else 10 * total
        counted = count_at_most(conn, self.plan, max(limit, 1))
        self.known_rows = max(self.known_rows, counted + gone)
        if self.known_rows == 0 or total <= self.fraction * self.known_rows:
            return
        raise self._refusal(total, deleted, hint, up_to=up_to)

    def _refusal(self, total: int, deleted: int, hint: str, *, up_to: bool) -> MassDeleteError:
        rows = self.known_rows
        share = min(total / rows, 1.0)
        bound = "up to " if up_to else ""
        kept = "nothing was deleted"
        if deleted:
            kept = f"this batch rolled back, the {deleted:,} row(s) earlier batches deleted stay"
        message = (
            f"{self.plan.name}: would delete {bound}{total:,} of {rows:,} row(s) of"
            f" {self.plan.destination.qualified} ({_percent(share)}), more than"
            f" {MAX_DELETE_FRACTION_VARIABLE}={self.fraction:g} ({_percent(self.fraction)});"
            f" {kept}"
        )
        return MassDeleteError(message + (f": {hint}" if hint else ""), deleting=total, rows=rows)
