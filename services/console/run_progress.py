"""A run's progress as its page and its JSON show it: the same figures as the terminal's
(services/reporting/progress_figures.py), from the run record and what the databases say.

A running backfill's total comes from its chunk plan, read at every poll (one small
query). A running incremental run's total is a count of its window (from the position
it started at to the newest row in core) through the cursor's index within a time
budget, done once per run and kept: the page polls every second, and the window's
start does not move.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from services.base import Position
from services.console.catalog import Catalog, ConsolePools
from services.console.views import duration_s
from services.reporting import ChunkShare, Figures, figures
from services.store import RowCount, RunRecord, chunks, pending_count

# Counts kept for this many runs, the oldest dropped first.
KEPT_COUNTS = 256
# A page waits at most this long for a spare connection to count with, then goes without.
COUNT_WAIT_S = 1.0


class RunTotals:
    """The window counts of running runs, by run id, counted once each."""

    def __init__(self) -> None:
        self._counts: OrderedDict[int, RowCount | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: int) -> tuple[bool, RowCount | None]:
        with self._lock:
            if run_id in self._counts:
                return True, self._counts[run_id]
            return False, None

    def put(self, run_id: int, count: RowCount | None) -> None:
        with self._lock:
            self._counts[run_id] = count
            while len(self._counts) > KEPT_COUNTS:
                self._counts.popitem(last=False)


def run_progress(
    pools: ConsolePools, catalog: Catalog, totals: RunTotals, record: RunRecord
) -> Figures:
    """The figures of ``record``: a finished run's rows and rate, a running one's with
    its total when one is known."""
    done, elapsed = int(record["rows_read"]), duration_s(record)
    if record["status"] != "running":
        return figures(done, elapsed, finished=record["status"] == "succeeded")
    definition = catalog.find(record["job"], record["definition"])
    if definition is None:
        return figures(done, elapsed)
    share = _chunk_share(pools, record)
    if share is not None:
        return figures(done, elapsed, chunks=share)
    known, count = totals.get(record["id"])
    if not known:
        after = Position.from_dict(record.get("cursor_before"))
        with pools.databases() as dbs:
            count = pending_count(
                dbs,
                record["job"],
                record["definition"],
                definition,
                after=after,
                wait_s=COUNT_WAIT_S,
            )
        totals.put(record["id"], count)
    return figures(done, elapsed, count=count)


def _chunk_share(pools: ConsolePools, record: RunRecord) -> ChunkShare | None:
    """The backfill's chunks when the definition has one under way (then this run is it)."""
    with pools.databases() as dbs, dbs.analytics.connection() as conn:
        conn.autocommit = True
        done = chunks.progress(conn, record["job"], record["definition"])
    if done is None or done.finished:
        return None
    return ChunkShare(done.done, done.total, done.pages_done, done.pages_total, done.rows)
