"""Where a run's batches come from: a query per batch, the prefetch thread, the transform workers.

Each source yields Batch values in cursor order from where it starts up to
the run's watermark: the batch's window and what the source read of it
already (COPY blocks from the prefetch thread, a worker's encoded batch, or
nothing, and the writer reads it from core). BatchSources holds one source
at a time: it opens the one the run's route calls for (services/sync/route.py)
at the first batch, switches when that changes, and closes it. A source is a generator, so
closing it stops its thread or its workers, and core is the run's again.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import psycopg

from services.base import Position
from services.store import sql as q
from services.sync.read.prefetch import Prefetcher
from services.sync.route import Read, Route
from services.sync.windows import Windows, WindowSource

if TYPE_CHECKING:  # imported when a transform runs: a run without one never needs it
    from services.sync.transform import EncodedBatch

Conn = psycopg.Connection[Any]
Source = Generator["Batch", None, None]
Kind = Literal["query", "prefetched", "transformed"]


@dataclass(frozen=True)
class Batch:
    """One batch: its window (after the last one, through its end) and what its source read."""

    window: q.Window
    blocks: Iterator[bytes] | None = None  # the prefetch thread's COPY data, read once
    encoded: EncodedBatch | None = None  # a transform worker's output
    # A keyset batch (services/sync/read/keyset.py) learns its end from its last row: known
    # once ``blocks`` are read.
    ends: Callable[[], Position | None] | None = None

    @property
    def end_position(self) -> Position:
        end = self.window.upper if self.ends is None else self.ends()
        assert end is not None  # a batch's window always has its end, once read
        return end

    def window_only(self) -> Batch:
        """The batch without what its source read: the writer reads it from core."""
        return Batch(self.window)


def query_batches(windows: WindowSource, start: Position | None) -> Source:
    """One query per batch finds its end; the writer reads its rows."""
    next_window, window = windows.windows_from(start), None
    while (window := next_window(window)) is not None:
        yield Batch(window)


def prefetched_batches(
    windows: WindowSource, start: Position | None, *, with_key_text: bool
) -> Source:
    """Batches the prefetch thread reads while the one before is written; it holds core."""
    prefetcher = Prefetcher(
        windows.plan, windows.core, windows.windows_from(start), with_key_text=with_key_text
    )
    with prefetcher:
        for window, blocks in prefetcher:
            yield Batch(window, blocks=blocks)


def keyset_batches(windows: Windows, start: Position | None) -> Source:
    """Batches of one query each, read by the prefetch thread; each ends at its last row."""
    from services.sync.read.keyset import KeysetPrefetcher

    prefetcher = KeysetPrefetcher(windows.plan, windows.core, start, windows.watermark)
    with prefetcher:
        for window, blocks in prefetcher:
            yield Batch(window, blocks=blocks, ends=lambda: prefetcher.last_end)


@dataclass(frozen=True)
class WorkerSettings:
    """What the transform workers are started with, besides where they start."""

    count: int
    connect: Callable[[], Conn]  # a core connection of a worker's own
    fast: bool  # straight into the destination, see services/sync/write/fast_path.py
    columns: list[str] | None  # the run's output columns, once a batch has set them
    encoding: str  # the analytics connection's, for text COPY
    stall_s: float | None  # silence after which a worker's connection is lost (timeouts.py)


def transformed_batches(
    windows: WindowSource,
    start: Position | None,
    settings: WorkerSettings,
    started: Callable[[int], None],
) -> Source:
    """Batches the transform workers read and transform, several at once, in cursor order."""
    from services.sync.transform import TransformWorkers

    workers = TransformWorkers(
        windows.plan,
        settings.connect,
        settings.count,
        next_window=windows.windows_from(start),
        fast=settings.fast,
        columns=settings.columns,
        encoding=settings.encoding,
        stall_s=settings.stall_s,
    )
    try:
        workers.start()
        started(settings.count)
        for window, encoded in workers:
            yield Batch(window, encoded=encoded)
    finally:
        workers.close()


class BatchSources:
    """The run's batches, read the way its route says (services/sync/route.py).

    The transform workers from the second batch on when the route reads with
    workers (the first batch shows the transform's columns, which they are
    given), the prefetch thread or a keyset query per batch without a transform,
    else a query per batch. ``reroute`` after a refusal closes the open source:
    the next batch opens the new route's. The run owns it: ``close()`` when the
    run ends, whatever happens.
    """

    def __init__(
        self,
        windows: WindowSource,
        route: Route,
        *,
        columns: Callable[[Route], list[str] | None],
        connect_core: Callable[[], Conn],
        stall_s: float | None,
        encoding: str,
    ):
        self._windows, self._route = windows, route
        self._columns = columns  # the run's output columns on a route, once a batch set them
        self._connect_core, self._encoding = connect_core, encoding
        self.workers_started = 0  # the most transform workers any of its sources started
        self._stall_s = stall_s
        self._open: tuple[Kind, Source] | None = None
        self._handed_out = False

    def next(self, position: Position | None) -> Batch | None:
        """The batch after ``position`` (which a source opened now starts from); None: done."""
        kind = self._kind()
        if self._open is not None and self._open[0] != kind:
            self.close()
        if self._open is None:
            self._open = (kind, self._start(kind, position))
        batch = next(self._open[1], None)
        if batch is not None:
            self._handed_out = True  # the workers' turn from the next batch on
        return batch

    def reroute(self, route: Route) -> None:
        """Read the next batches the way ``route`` says: what the open source read ahead is
        dropped (it went another way), and the prefetch thread gives core back."""
        self._route = route
        self.close()

    def close(self) -> None:
        """Close the open source: what it read ahead is dropped; the next batch opens one."""
        if self._open is not None:
            self._open[1].close()
            self._open = None

    def _workers_started(self, count: int) -> None:
        self.workers_started = max(self.workers_started, count)

    def _kind(self) -> Kind:
        read = self._route.read
        if read is Read.WORKERS:
            return "transformed" if self._handed_out else "query"
        return "query" if read is Read.QUERY else "prefetched"

    def _start(self, kind: Kind, position: Position | None) -> Source:
        route = self._route
        if kind == "transformed":
            columns = self._columns(route)
            settings = WorkerSettings(
                route.workers,
                self._connect_core,
                route.straight,
                columns,
                self._encoding,
                self._stall_s,
            )
            return transformed_batches(self._windows, position, settings, self._workers_started)
        if route.read is Read.KEYSET:
            assert isinstance(self._windows, Windows)  # cursor batches (route.py)
            return keyset_batches(self._windows, position)  # one query each: keyset.py
        if kind == "prefetched":
            with_key_text = route.layout.keyed and not route.straight
            return prefetched_batches(self._windows, position, with_key_text=with_key_text)
        return query_batches(self._windows, position)
