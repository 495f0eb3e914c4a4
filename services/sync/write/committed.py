"""What a batch loop tells the run: the window it is about to write, then what committed.

The cursor batch loop (services/sync/run/process_definition.py) and a backfill's chunk
loop (services/sync/backfill/chunk_loop.py) each yield, per batch or chunk, its window
before writing it (the run's failure names it if the write fails) and ``Committed``
once it has committed. The run keeps both and fills its result from them, in one place;
no loop writes into the run's result.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.base import Position, RunCounts
from services.store import Progress
from services.store import sql as q


@dataclass(frozen=True)
class Committed:
    """A batch or chunk committed: the run's counts with it, and where the run stands."""

    counts: RunCounts  # the run's, this batch or chunk included
    position: Position | None  # a batch's end; after a chunk, the hand-over if it was the last
    chunks: Progress | None = None  # a backfill's chunks over all its runners


# What a batch loop yields: a window about to be written, or a commit.
LoopStep = q.Window | Committed
