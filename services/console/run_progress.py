"""A run's progress as its page and its JSON show it: the same figures as the terminal's
(services/reporting/progress_figures.py), from the run record and what the databases say.

A running backfill's total comes from its chunk plan, read at every poll (one small
query). A running incremental run's total is its rows read plus a count of the rows
after the position it has committed (the same record, so the two agree), through the
cursor's index within a time budget, as the command line counts it. An exact count is
kept for the run's life (the page polls every second); a count cut short ("at least")
is counted again at most every RECOUNT_S, on a window that shrinks as the run goes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from services.base import Position
from services.console.catalog import Catalog, ConsolePools
from services.console.views import duration_s
from services.reporting import RECOUNT_S, ChunkShare, Figures, figures
from services.store import RowCount, RunRecord, chunks, pending_count

# Counts kept for this many runs, the oldest dropped first.
KEPT_COUNTS = 256
# A page waits at most this long for a spare connection to count with, then goes without.
COUNT_WAIT_S = 1.0


class RunTotals:
    """The totals of running runs by run id, and when each was counted."""

    def __init__(self) -> None:
        self._counts: OrderedDict[int, tuple[RowCount | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    def fresh(self, run_id: int, now: float) -> tuple[bool, RowCount | None]:
        """(True, the total) when it needs no new count: exact, or counted lately."""
        with self._lock:
            count, at = self._counts.get(run_id, (None, None))
        if at is None:
            return False, None
        return (count is not None and count.exact) or now - at < RECOUNT_S, count

    def put(self, run_id: int, count: RowCount | None, now: float) -> None:
        with self._lock:
            self._counts[run_id] = (count, now)
            self._counts.move_to_end(run_id)
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
    now = time.monotonic()
    fresh, count = totals.fresh(record["id"], now)
    if not fresh:
        after = Position.from_dict(record.get("cursor_after"))
        job, name = record["job"], record["definition"]
        with pools.databases() as dbs:
            ahead = pending_count(dbs, job, name, definition, after=after, wait_s=COUNT_WAIT_S)
        count = None if ahead is None else RowCount(done + ahead.rows, exact=ahead.exact)
        totals.put(record["id"], count, now)
    return figures(done, elapsed, count=count)


def _chunk_share(pools: ConsolePools, record: RunRecord) -> ChunkShare | None:
    """The backfill's chunks when the definition has one under way (then this run is it)."""
    with pools.databases() as dbs, dbs.analytics.connection() as conn:
        conn.autocommit = True
        done = chunks.progress(conn, record["job"], record["definition"])
    if done is None or done.finished:
        return None
    return ChunkShare(done.done, done.total, done.pages_done, done.pages_total, done.rows)
