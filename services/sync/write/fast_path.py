"""When a batch may skip work: the initial-load fast path, the sort, the NULL-key check.

Into a destination that was empty when the run started, a batch is copied
straight into the table inside a savepoint instead of staged and upserted.
Anything the straight COPY refuses (a key seen twice, a NULL key, bad data)
rolls back to the savepoint; the run then redoes that batch through staging
and the upsert, which keep the contract's rules and name the row at fault,
and stays on that path for the rest of the run. A redone batch is read from
core again, so a transform sees its rows a second time.

Without a transform, what core guarantees also spares the upsert work
(services/sync/route.py, ``batch_keys_unique`` and ``keys_never_null``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from services.base import RowError, first_line, redact
from services.store import CopyMode, SyncPlan
from services.store import sql as q
from services.sync.route import batch_keys_unique
from services.sync.rows import FastPathRefused
from services.sync.transform import check_transform_columns

log = logging.getLogger(__name__)

T = TypeVar("T")

# What makes a fast batch fall back: anything the server or the row checks
# refuse. A lost connection is not among them: it is the run's error.
FALLBACK_ERRORS = (FastPathRefused, RowError, psycopg.Error)


class FastPath:
    """This run's way straight into the destination: whether it may take it (asked once,
    before the first write, and only on a full load: a saved position means rows were
    written already), the transform's columns on it, and each straight COPY in a
    savepoint. Whether the run is on it is its route's to say (services/sync/route.py).
    """

    def __init__(
        self,
        plan: SyncPlan,
        analytics: psycopg.Connection[Any],
        *,
        full_load: bool,
        empty: bool | None = None,
    ):
        self._plan, self._analytics = plan, analytics
        self._full_load = full_load
        # A backfill's runners go by whether the destination was empty when it was
        # planned (tablesync.backfills.into_empty), not by what the others wrote since.
        self._empty = empty
        # A transform's output columns on this path, checked at the first batch that has rows.
        self.columns: list[str] | None = None

    def allowed(self) -> bool:
        """The probe: whether this run may start on the fast path."""
        if not self._full_load:
            return False
        return fast_path_allowed(self._plan, self._analytics, empty=self._empty)

    def check_columns(self, columns: list[str]) -> None:
        if self.columns is None:
            check_transform_columns(self._plan, columns)
            self.columns = columns

    def attempt(self, write: Callable[[], T]) -> T | Refused:
        """``write()``, a straight COPY, in a savepoint; Refused when it was refused: its
        rows are rolled back and the batch is to be written again through staging."""
        outcome = in_savepoint(self._analytics, write)
        if isinstance(outcome, Refused):
            name, reason = self._plan.name, outcome.reason
            log.debug("%s: fast path off: %s; batch redone through staging", name, reason)
        return outcome


@dataclass(frozen=True)
class Refused:
    """The error for which a batch's rows were rolled back to their savepoint."""

    error: BaseException

    @property
    def reason(self) -> str:
        return f"{type(self.error).__name__}: {redact(first_line(self.error))}"


def in_savepoint(conn: psycopg.Connection[Any], write: Callable[[], T]) -> T | Refused:
    """``write()`` inside a savepoint: its result, or Refused when the batch is to be redone
    the normal way (see must_fall_back); any other error is raised."""
    try:
        with conn.transaction():
            return write()
    except FALLBACK_ERRORS as exc:
        if not must_fall_back(exc, conn):
            raise
        return Refused(exc)


def must_fall_back(exc: BaseException, conn: psycopg.Connection[Any]) -> bool:
    """Whether a fast batch that raised ``exc`` is to be redone through staging."""
    if isinstance(exc, psycopg.OperationalError) or conn.broken or conn.closed:
        return False
    return isinstance(exc, FALLBACK_ERRORS)


def fast_path_allowed(
    plan: SyncPlan, analytics: psycopg.Connection[Any], *, empty: bool | None = None
) -> bool:
    """Whether this run may copy batches straight into the destination.

    Only into an empty destination (``empty``, when the caller knows it).
    Without a transform, every conflict column must also be NOT NULL there, so
    a NULL key raises instead of being written (the transform path checks its
    keys in Python instead).
    """
    dest = plan.destination
    if plan.mode is not CopyMode.PYTHON and not all(dest.columns[k].not_null for k in plan.keys):
        log.debug(
            "%s: fast path off: a conflict column of %s is nullable", plan.name, dest.qualified
        )
        return False
    passthrough = plan.mode is not CopyMode.PYTHON
    if passthrough and plan.definition.source.soft_delete and not batch_keys_unique(plan):
        # A key both soft-deleted and not in one batch: only staging keeps their order.
        log.debug("%s: fast path off: soft deletes need core's key to be unique", plan.name)
        return False
    if empty is None:
        row = analytics.execute(q.destination_is_empty(plan)).fetchone()
        empty = bool(row and row[0])
    log.debug(
        "%s: fast path %s: %s is %s",
        plan.name,
        "on" if empty else "off",
        dest.qualified,
        "empty" if empty else "not empty",
    )
    return empty
