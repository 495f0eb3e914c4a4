"""--dry-run: check a definition, then say what a run would do, writing nothing."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from services.base import (
    Databases,
    ExportDefinition,
    Position,
    RunSettings,
    Watermark,
    load_position,
)
from services.store import RowCount, SyncPlan, count_window, planned
from services.store import sql as q
from services.sync import (
    ChunkPlan,
    Route,
    compute_watermark,
    next_chunk_plan,
    planned_route,
    why_not_backfill,
)

# A dry run is asked for by a person who waits for the answer: its count may take longer
# than a run's progress total, through the same function.
DRY_RUN_COUNT_BUDGET_MS = 2_000


@dataclass(frozen=True)
class DryRun:
    """What the next run of a definition would read: its window and how many rows."""

    plan: SyncPlan
    position: Position | None
    watermark: Watermark
    pending: RowCount | None  # counted within DRY_RUN_COUNT_BUDGET_MS; None: not even begun
    backfill: ChunkPlan | None = None  # a full load in heap order (services/sync/backfill/plan.py)
    not_a_backfill: str | None = None  # why a first load reads in cursor order instead
    route: Route | None = None  # how the run would read and write (services/sync/route.py)
    read_query: str | None = None  # the SQL core would run for the window's rows

    @property
    def pending_rows(self) -> int | None:
        return None if self.pending is None else self.pending.rows

    @property
    def batches_estimate(self) -> int | None:
        rows = self.pending_rows
        return None if rows is None else math.ceil(rows / self.plan.batch_size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "definition": self.plan.name,
            "mode": str(self.plan.mode),
            "after": None if self.position is None else self.position.to_dict(),
            "watermark": self.watermark.value,
            "watermark_inclusive": self.watermark.inclusive,
            "held_back": self.watermark.held_back,
            # The name is kept for scripts that read it: it is a count now (exact or a bound).
            "rows_pending_estimate": self.pending_rows,
            "rows_pending_exact": None if self.pending is None else self.pending.exact,
            "batches_estimate": self.batches_estimate,
            "batch_size": self.plan.batch_size,
            "backfill": None if self.backfill is None else self.backfill.to_dict(),
            "not_a_backfill": self.not_a_backfill,
            "route": None if self.route is None else str(self.route),
            "read_query": self.read_query,
        }


def dry_run(
    dbs: Databases, job: str, name: str, definition: ExportDefinition, settings: RunSettings
) -> DryRun:
    """Pre-flight ``name`` and size its next run; reads both databases, writes to neither.

    Raises PreflightError exactly as a real run would.
    """
    with planned(dbs, job, name, definition) as (plan, core, analytics):
        saved = load_position(analytics, job, name)
        wait_s = settings.writer_wait_for(definition.writer_wait_s)
        lag_s = definition.safety_lag_s
        mark = compute_watermark(core, plan, saved, safety_lag_s=lag_s, wait_s=wait_s)
        window = q.Window(lower=saved, upper=None, watermark=mark)
        chunked = next_chunk_plan(core, analytics, plan, saved, settings)
        why_not = None
        if saved is None and chunked is None:
            why_not = why_not_backfill(plan, core, settings)
        pending = count_window(core, plan, window, budget_ms=DRY_RUN_COUNT_BUDGET_MS)
        chunks = chunked is not None
        route = planned_route(plan, analytics, settings, saved=saved is not None, chunks=chunks)
        read = q.select_rows(plan, window, with_key_text=False).as_string(core)
        return DryRun(plan, saved, mark, pending, chunked, why_not, route, read)


def _key_text(plan: SyncPlan, position: Position) -> str:
    return plan.key_text(position.value, position.ids)


def describe(run: DryRun) -> list[str]:
    """The dry run as lines for a person: tables, window, rows and batches."""
    plan, mark = run.plan, run.watermark
    start = (
        "the start (no saved position)" if run.position is None else _key_text(plan, run.position)
    )
    end = (
        "nothing yet (no row is old enough)"
        if mark.value is None
        else (f"{plan.cursor.name} {'<=' if mark.inclusive else '<'} {mark.value}")
    )
    lines = [
        f"{plan.name}: dry run, nothing written",
        f"  core {plan.source.qualified} -> analytics {plan.destination.qualified}"
        f" ({plan.mode} copy)",
        f"  from: after {start}" if run.position else f"  from: {start}",
        f"  up to: {end} (this run's watermark)",
        f"  {_pending_text(run)}",
    ]
    if run.backfill is not None:
        lines += _chunk_lines(run.backfill)
    if run.not_a_backfill is not None:
        lines.append(f"  a first load in cursor order, not a backfill: {run.not_a_backfill}")
    if run.route is not None:
        lines.append(f"  route: {run.route}")
    if mark.held_back:
        lines.append(f"  held back: {mark.held_back}")
    if run.read_query is not None:
        lines.append("  read query (the window's rows; a backfill reads each chunk's blocks):")
        lines += [f"    {line}" for line in run.read_query.splitlines()]
    return lines


def _pending_text(run: DryRun) -> str:
    """``300 row(s) pending (counted), 1 batch(es) of 10,000`` or its "at least" kin."""
    size = f"{run.plan.batch_size:,}"
    if run.pending is None:
        seconds = DRY_RUN_COUNT_BUDGET_MS / 1000
        return f"pending rows unknown: counting them took more than {seconds:g}s"
    rows, batches = run.pending.rows, run.batches_estimate or 0
    if run.pending.exact:
        return f"{rows:,} row(s) pending (counted), {batches:,} batch(es) of {size}"
    seconds = DRY_RUN_COUNT_BUDGET_MS / 1000
    return (
        f"at least {rows:,} row(s) pending (counting stopped after {seconds:g}s),"
        f" at least {batches:,} batch(es) of {size}"
    )


def _chunk_lines(chunked: ChunkPlan) -> list[str]:
    """The backfill's chunk plan: what it reads, and how far it got if under way."""
    mib = chunked.chunk_pages * chunked.block_size / 1024 / 1024
    what = "backfill under way" if chunked.planned else "backfill (a full load in heap order)"
    heaps = (
        "the source heap"
        if chunked.leaves is None
        else f"the heaps of its {chunked.leaves:,} leaf partition(s)"
    )
    lines = [
        f"  {what}: {chunked.chunks_total:,} chunk(s) of {chunked.chunk_pages:,} block(s)"
        f" ({mib:,.0f} MiB) over {chunked.source_pages:,} block(s) of {heaps}",
    ]
    if chunked.planned:
        lines.append(
            f"  chunks done: {chunked.chunks_done:,}/{chunked.chunks_total:,},"
            f" {chunked.rows_done:,} row(s) so far; any number of runners can share the rest"
        )
    return lines
