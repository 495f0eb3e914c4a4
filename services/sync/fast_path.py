"""When a batch may skip work: the initial-load fast path, the sort, the NULL-key check.

Into a destination that was empty when the run started, a batch is copied
straight into the table inside a savepoint instead of staged and upserted.
Anything the straight COPY refuses (a key seen twice, a NULL key, bad data)
rolls back to the savepoint; the run then redoes that batch through staging
and the upsert, which keep the contract's rules and name the row at fault,
and stays on that path for the rest of the run. A redone batch is read from
core again, so a transform sees its rows a second time.

Without a transform, what core guarantees also spares the upsert work: a
unique index on the conflict columns means no batch holds a key twice (no
DISTINCT ON sort), NOT NULL on them means no staged key is NULL (no check).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from services.base.errors import RowError
from services.store import sql as q
from services.store.plan import CopyMode, SyncPlan

log = logging.getLogger(__name__)


class FastPathRefused(Exception):
    """A row the straight COPY must not write (a NULL key): redo the batch the normal way."""


# What makes a fast batch fall back: anything the server or the row checks
# refuse. A lost connection is not among them: it is the run's error.
FALLBACK_ERRORS = (FastPathRefused, RowError, psycopg.Error)


def must_fall_back(exc: BaseException, conn: psycopg.Connection[Any]) -> bool:
    """Whether a fast batch that raised ``exc`` is to be redone through staging."""
    if isinstance(exc, psycopg.OperationalError) or conn.broken or conn.closed:
        return False
    return isinstance(exc, FALLBACK_ERRORS)


def fast_path_allowed(plan: SyncPlan, analytics: psycopg.Connection[Any]) -> bool:
    """Whether this run may copy batches straight into the destination.

    Only into an empty destination. Without a transform, every conflict column
    must also be NOT NULL there, so a NULL key raises instead of being written
    (the transform path checks its keys in Python instead).
    """
    dest = plan.destination
    if plan.mode is not CopyMode.PYTHON and not all(dest.columns[k].not_null for k in plan.keys):
        log.debug(
            "%s: fast path off: a conflict column of %s is nullable", plan.name, dest.qualified
        )
        return False
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


def batch_keys_unique(plan: SyncPlan) -> bool:
    """Whether a batch can never hold a key twice, so the upsert needs no DISTINCT ON.

    True when rows pass unchanged with identical types (binary mode: a text
    conversion could make two source keys equal) and core has a valid,
    non-partial unique index on exactly the conflict columns: one COPY reads
    one snapshot, where those keys are unique.
    """
    if plan.mode is not CopyMode.BINARY:
        return False
    return frozenset(plan.keys) in plan.source.unique_keys


def keys_never_null(plan: SyncPlan) -> bool:
    """Whether no staged row can have a NULL conflict column, so the check can be skipped.

    True without a transform when every conflict column is NOT NULL in core.
    """
    if plan.mode is CopyMode.PYTHON:
        return False
    return all(plan.source.columns[k].not_null for k in plan.keys)


def staging_needs_keys(plan: SyncPlan) -> bool:
    """Whether staged rows must carry their key as text and their order of arrival.

    Only the DISTINCT ON sort (the order) and the NULL-key check (the key, to
    name the row) read them; when neither runs, leaving them out spares core
    formatting two columns per row and staging writing three.
    """
    return not (batch_keys_unique(plan) and keys_never_null(plan))


def check_keys(keys: list[str], row: dict[str, Any]) -> None:
    """Raise FastPathRefused when a transformed row has a NULL conflict column."""
    for key in keys:
        if row[key] is None:
            raise FastPathRefused(f"NULL in conflict column {key!r}")
