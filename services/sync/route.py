"""How one attempt of a run reads and writes its batches, decided once: the route.

A run's batches can be read four ways (a query per batch, the prefetch thread,
one keyset query per batch, the transform workers) and written two (straight
into an empty destination, or staged and upserted), and the staging table's
shape follows from the definition. Those choices depend on each other (the
prefetch thread cannot read ahead while a soft-deleted batch goes straight in;
a keyset batch needs the key text staging keeps), so they are made together,
here, into one frozen ``Route`` at the start of an attempt, from the plan, the
fast-path probe and the worker count. The sources, the writer and the staging
table take it; none works anything out again.

Two things can change the route mid-run, and only the batch loops act on them:
a straight COPY the destination refuses (the batch goes back through staging,
and so does the rest of the run), and a transform worker that fails (the
runner transforms every batch itself from then on). The writer says which
happened (``Refusal``); the loop takes ``route.after_refusal(...)``, reopens the
source on the new route and writes the batch again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg

from services.base import PREFETCH
from services.store import CopyMode, StagingLayout, SyncPlan
from services.store import sql as q

Conn = psycopg.Connection[Any]


class Read(StrEnum):
    """Where a batch's rows are read."""

    QUERY = "query"  # a query finds the batch's end; the writer reads its rows
    PREFETCHED = "prefetched"  # the prefetch thread reads batch n+1 while n is written
    KEYSET = "keyset"  # one query per batch, which ends at its last row (keyset.py)
    WORKERS = "workers"  # the first batch by query, then transform workers, N at once


class Write(StrEnum):
    """Where a batch's rows are written."""

    STRAIGHT = "straight"  # COPY into the empty destination, in a savepoint (fast_path.py)
    STAGED = "staged"  # COPY into the staging table, then one upsert


class Refusal(StrEnum):
    """Why a batch could not be written on its route, and is written again on another."""

    STRAIGHT_REFUSED = "the straight COPY was refused"
    WORKER_FAILED = "a transform worker's batch could not be written"


@dataclass(frozen=True)
class Route:
    """How this attempt reads and writes its batches, and the staging table's layout."""

    read: Read
    write: Write
    layout: StagingLayout
    workers: int  # transform worker processes (Read.WORKERS); 0 otherwise
    chunks: bool  # a backfill's chunks, not cursor batches
    soft_deletes: bool
    passthrough: bool  # rows unchanged (no Python transform)

    @property
    def straight(self) -> bool:
        return self.write is Write.STRAIGHT

    def after_refusal(self, refusal: Refusal) -> Route:
        """The route for the batch refused, written again, and for the rest of the run."""
        if refusal is Refusal.WORKER_FAILED:
            changed = dataclasses.replace(self, workers=0)
        else:
            changed = dataclasses.replace(self, write=Write.STAGED)
        return dataclasses.replace(changed, read=_read(changed))

    def __str__(self) -> str:
        workers = f" ({self.workers})" if self.read is Read.WORKERS else ""
        of = "chunks" if self.chunks else "batches"
        return f"{of} read by {self.read}{workers}, written {self.write}; staging {self.layout}"


def choose_route(
    plan: SyncPlan, *, chunks: bool, incremental: bool, straight: bool, workers: int
) -> Route:
    """The route of an attempt: ``chunks`` for a backfill's, ``incremental`` when it goes on
    from a saved position, ``straight`` when the fast-path probe allows it, ``workers``
    transform worker processes (0 without a transform)."""
    passthrough = plan.mode is not CopyMode.PYTHON
    soft_deletes = plan.definition.source.soft_delete is not None
    needs_keys = staging_needs_keys(plan)
    # An incremental run reads each batch in one query whose rows carry their key as text
    # (keyset.py): staging keeps it, though nothing else needs it.
    # A where leaves rows out of the read: its batches end where batch_end says, which
    # counts them (a keyset batch ends at the last row it read, before those left out).
    filtered = plan.row_filter is not None
    keyset = passthrough and not soft_deletes and incremental and not chunks and not filtered
    keyed = keyset or needs_keys or not passthrough
    layout = StagingLayout(
        keyed=keyed,
        ordinal=keyed and (needs_keys or q.can_delete(plan)),
        deletes=q.can_delete(plan),
    )
    route = Route(
        read=Read.QUERY,
        write=Write.STRAIGHT if straight else Write.STAGED,
        layout=layout,
        workers=0 if passthrough else workers,
        chunks=chunks,
        soft_deletes=soft_deletes,
        passthrough=passthrough,
    )
    return dataclasses.replace(route, read=_read(route))


def _read(route: Route) -> Read:
    """How ``route``'s batches are read, given how they are written."""
    if not route.passthrough:
        return Read.WORKERS if route.workers else Read.QUERY
    # Straight in, a batch's soft-deleted keys are read from core after its rows,
    # which the prefetch thread would be holding.
    if not PREFETCH or (route.soft_deletes and route.straight):
        return Read.QUERY
    staged_keys = route.layout.keyed and not route.straight and not route.soft_deletes
    if staged_keys and not route.chunks:
        return Read.KEYSET
    return Read.PREFETCHED


# Without a transform, what core guarantees spares the upsert work: a unique index on the
# conflict columns means no batch holds a key twice (no DISTINCT ON sort), NOT NULL on
# them means no staged key is NULL (no check); staging then needs neither the key text
# nor the order of arrival, which only those two read.


def batch_keys_unique(plan: SyncPlan) -> bool:
    """Whether a batch can never hold a key twice, so the upsert needs no DISTINCT ON.

    True when rows pass unchanged with identical types (binary mode: a text
    conversion could make two source keys equal) and core has a valid,
    non-partial unique index on exactly the conflict columns: one COPY reads
    one snapshot, where those keys are unique.
    """
    mapping = plan.definition.key_columns
    if plan.mode is not CopyMode.BINARY or mapping is None:
        return False
    return frozenset(mapping[k] for k in plan.keys) in plan.source.unique_keys


def keys_never_null(plan: SyncPlan) -> bool:
    """Whether no staged row can have a NULL conflict column, so the check can be skipped.

    True without a transform when every conflict column is NOT NULL in core.
    """
    mapping = plan.definition.key_columns
    if plan.mode is CopyMode.PYTHON or mapping is None:
        return False  # a transform's or an expression's key: checked in the batch
    return all(plan.source.columns[mapping[k]].not_null for k in plan.keys)


def staging_needs_keys(plan: SyncPlan) -> bool:
    """Whether staged rows must carry their key as text and their order of arrival.

    Only the DISTINCT ON sort (the order) and the NULL-key check (the key, to
    name the row) read them; when neither runs, leaving them out spares core
    formatting two columns per row and staging writing three.
    """
    return not (batch_keys_unique(plan) and keys_never_null(plan))
