"""A backfill runner's loop: claim chunks, write each, commit it with its done marker.

The chunks come through the same batch sources as cursor batches
(services/sync/read/batch_sources.py): a query per chunk, the prefetch thread
reading chunk n+1 while chunk n is written, or the transform workers, each
with a chunk of its own. ``ChunkWindows`` gives those sources their windows
by claiming chunks (services/store/chunks.py) on an analytics connection of
its own, so a claim never waits for the COPY under way on the run's
connection. A chunk claimed by a source that was closed before its turn (the
fast path refused a chunk, a worker failed) is handed out again first by the
source opened next. Every claim is let go when the run ends, whatever
happens; a killed runner's die with its connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg

from services.base import Position, RunCounts, delay_point, kill_point, stopping
from services.store import Backfill, Chunk, DeleteGuard, SyncPlan, chunks, record_progress
from services.store import sql as q
from services.sync.backfill.plan import chunk_window, complete_chunk
from services.sync.read import BatchSources
from services.sync.route import Route
from services.sync.windows import NextWindow
from services.sync.write import BatchWriter, Committed, LoopStep, counts_after, write_on_route

Conn = psycopg.Connection[Any]


class ChunkWindows:
    """A backfill's chunks as windows, claimed as the run's sources ask for them."""

    def __init__(self, plan: SyncPlan, core: Conn, claims: Conn, backfill: Backfill) -> None:
        self.plan, self.core, self.backfill = plan, core, backfill
        self._claims = claims
        # Claimed, not yet let go, by the pages of the window each was handed out as.
        self._held: dict[q.PageRange, Chunk] = {}
        self._lock = threading.Lock()  # the prefetch thread claims, the run lets go
        self._after, self._wrapped = -1, False

    def windows_from(self, start: Position | None) -> NextWindow:
        """Windows for a source opened now: chunks claimed for a source closed before it
        came to them first, then new claims. ``start`` has no meaning for chunks.

        Called on the thread that reads with ``core`` (the prefetch thread, or the
        run's), which also finds each chunk's leaf partition on it as it is now."""
        with self._lock:
            orphans = sorted(self._held.values(), key=lambda c: c.number)

        def next_window(last: q.Window | None) -> q.Window | None:
            chunk = orphans.pop(0) if orphans else self._claim()
            if chunk is None:
                return None
            window = chunk_window(self.core, self.plan, chunk)
            assert window.pages is not None
            with self._lock:
                self._forget(chunk)
                self._held[window.pages] = chunk
            return window

        return next_window

    def chunk_of(self, window: q.Window) -> Chunk:
        assert window.pages is not None
        with self._lock:
            return self._held[window.pages]

    def _forget(self, chunk: Chunk) -> None:
        for pages in [p for p, held in self._held.items() if held.number == chunk.number]:
            del self._held[pages]

    def _claim(self) -> Chunk | None:
        """The next chunk no one holds and no one has done, or None when none is left;
        once more round from the start at the end, for chunks of runners that died."""
        with self._lock:
            while True:
                found = chunks.open_chunks(self._claims, self.backfill, self._after)
                if not found:
                    if self._wrapped or self._after < 0:
                        return None
                    self._after, self._wrapped = -1, True
                    continue
                ours = {held.number for held in self._held.values()}
                for chunk in found:
                    self._after = chunk.number
                    if chunk.number in ours:  # ours already (an advisory lock nests)
                        continue
                    if chunks.try_claim(self._claims, self.backfill, chunk):
                        self._held[chunk.pages] = chunk
                        return chunk

    def release(self, chunk: Chunk) -> None:
        """Let ``chunk`` go once its transaction has ended."""
        with self._lock:
            self._forget(chunk)
            chunks.release(self._claims, self.backfill, chunk)

    def release_all(self) -> None:
        """Let every claim go: the claims connection goes back to the pool."""
        with self._lock:
            self._held.clear()
            if not (self._claims.closed or self._claims.broken):
                self._claims.execute("SELECT pg_advisory_unlock_all()")


def commit_chunks(
    plan: SyncPlan,
    analytics: Conn,
    windows: ChunkWindows,
    route: Route,
    sources: BatchSources,
    writer: BatchWriter,
    counts: RunCounts,
    *,
    run_id: int,
    guard: DeleteGuard,
) -> Iterator[LoopStep]:
    """Write each chunk this runner claims on ``route`` (and after a refusal on the route
    after it, write_on_route) and commit it with its done marker and the run's counts
    (``counts`` so far, with each chunk's added); yields each chunk's window before writing
    it and what committed after, the hand-over position with the chunk that finished the
    backfill."""
    while True:
        stopping.check()  # asked to stop: nothing is in flight between two chunks
        if (batch := sources.next(None)) is None:
            return
        chunk = windows.chunk_of(batch.window)
        delay_point("chunk")
        yield batch.window
        with stopping.committing(analytics) as commit, analytics.transaction():
            written, route = write_on_route(writer, sources, batch, route)
            after = counts_after(plan, analytics, guard, counts, written)
            commit.begin()  # written: a stop asked from here on lets the chunk finish
            handed = complete_chunk(
                analytics, plan, windows.backfill, chunk, rows=written.read, run_id=run_id
            )
            record_progress(analytics, run_id, after, handed)
            kill_point("commit")
        kill_point("committed")
        windows.release(chunk)
        counts = after  # only now: a rollback is not counted
        yield Committed(counts, handed, chunks.progress(analytics, plan.job, plan.name))
