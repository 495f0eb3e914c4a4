"""Where a run's windows come from, one after the other: cursor batches (``Windows``:
each batch's end found on core, below the run's watermark) or a backfill's chunks
(services/sync/backfill/chunk_loop.py, ``ChunkWindows``). Every reader takes its windows
this way: a query per batch, the prefetch thread, the keyset query, the transform workers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg

from services.base import Position, Watermark
from services.store import SyncPlan
from services.store import sql as q

Conn = psycopg.Connection[Any]
# The window after the one given (None: the first), or None when none is left.
NextWindow = Callable[[q.Window | None], q.Window | None]


class WindowSource(Protocol):
    """Where a run's windows come from: cursor batches (Windows) or a backfill's chunks
    (services/sync/backfill/chunk_loop.py, ChunkWindows)."""

    @property
    def plan(self) -> SyncPlan: ...

    @property
    def core(self) -> Conn: ...

    def windows_from(self, start: Position | None) -> NextWindow:
        """The windows of a source opened at ``start``, one call at a time."""
        ...


@dataclass(frozen=True)
class Windows:
    """The run's batch windows: each batch's end is found on core, below the watermark."""

    plan: SyncPlan
    core: Conn
    watermark: Watermark

    def next_end(self, after: Position | None) -> tuple[Position, int] | None:
        """The last row of the batch after ``after`` and how many of its rows source.where
        leaves out; None when no row is left."""
        window = q.Window(lower=after, upper=None, watermark=self.watermark)
        row = self.core.execute(q.batch_end(self.plan, window)).fetchone()
        if row is None:
            return None
        end = Position.from_key_text(row[0], row[1], len(self.plan.cursor_ids))
        return end, int(row[2]) if len(row) > 2 else 0

    def windows_from(self, start: Position | None) -> NextWindow:
        def next_window(last: q.Window | None) -> q.Window | None:
            after = start if last is None else last.upper
            found = self.next_end(after)
            if found is None:
                return None
            return q.Window(after, found[0], self.watermark, left_out=found[1])

        return next_window
