"""Read batch n+1 from core while batch n is written to analytics.

Without a transform a batch is bytes from one COPY to the other, so a thread
can find the next batch's end and stream its COPY ... TO STDOUT from core
while the main thread stages and upserts the current one on analytics: the
two servers' work overlaps instead of taking turns. The bytes wait in a
bounded queue, so memory stays flat whatever the batch size; the core
connection belongs to the thread until the prefetcher is closed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

import psycopg
from psycopg.abc import Buffer

from services.base import COPY_BLOCK_BYTES, Position, kill_point, kill_points_armed
from services.store import CopyMode, SyncPlan
from services.store import sql as q
from services.sync.read.copy_read import binary_blocks
from services.sync.windows import NextWindow

# Chunks from COPY are one row each; they are handed over in blocks of
# COPY_BLOCK_BYTES, and at most QUEUE_BLOCKS of them wait (~8 MiB).
QUEUE_BLOCKS = 128
_POLL_S = 0.1


class _Stopped(Exception):
    """The consumer went away: abandon the COPY in progress."""


class Prefetcher:
    """Yields ``(window, blocks)`` per batch in cursor order; ``blocks`` are its COPY data.

    Each batch's ``blocks`` must be consumed before asking for the next batch.
    An error of the reading thread is raised in the consumer, unchanged.
    """

    def __init__(
        self,
        plan: SyncPlan,
        core: psycopg.Connection[Any],
        next_window: NextWindow,
        *,
        with_key_text: bool = True,
    ) -> None:
        self._plan, self._core = plan, core
        self._with_key_text = with_key_text  # False: rows go straight to the destination
        self._next_window = next_window
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._stop = threading.Event()
        # The window being written and the one read ahead, no more: a backfill's next
        # window is a chunk claim, which must not take chunks other runners could do.
        self._slots = threading.Semaphore(2)
        self._thread = threading.Thread(target=self._run, name="tablesync-prefetch")
        self._armed = kill_points_armed()  # kill_point is dear per row
        self.last_end: Position | None = None

    def __enter__(self) -> Prefetcher:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the thread and wait for it: the core connection is the caller's again."""
        self._stop.set()
        while self._thread.is_alive():
            self._drain()
            self._thread.join(timeout=_POLL_S)

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            return

    def __iter__(self) -> Iterator[tuple[q.Window, Iterator[bytes]]]:
        while (item := self._take())[0] != "done":
            yield item[1], self._blocks()
            self._slots.release()  # that batch is written: the thread may go one further

    def _blocks(self) -> Iterator[bytes]:
        while (item := self._take())[0] != "end":
            data, rows = item[1]
            if self._armed:
                for _ in range(rows):
                    kill_point("copy")
            yield data
        self.last_end = item[1]  # the batch's end, when only its rows told (keyset.py)

    def _take(self) -> tuple[str, Any]:
        """The thread's next item; its error, raised here unchanged."""
        kind, value = self._queue.get()
        if kind == "error":
            raise value
        return kind, value

    # -- the reading thread --------------------------------------------------

    def _put(self, item: tuple[str, Any]) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _take_slot(self) -> bool:
        while not self._slots.acquire(timeout=_POLL_S):
            if self._stop.is_set():
                raise _Stopped
        return True

    def _is_row(self, chunk: Buffer) -> bool:
        """Whether a COPY message announces the batch; here any message does (a window
        known to hold rows), in keyset.py only one holding a row."""
        return True

    def _run(self) -> None:
        """The thread: every batch, then ``done``; a failure goes to the consumer instead."""
        try:
            self._read_all()
            self._put(("done", None))
        except _Stopped:
            return
        except BaseException as exc:  # handed to the consumer, who raises it
            try:
                self._put(("error", exc))
            except _Stopped:
                return

    def _read_all(self) -> None:
        window = None
        while self._take_slot() and (window := self._next_window(window)) is not None:
            self._put(("batch", window))
            self._read_batch(window)
            self._put(("end", None))

    def _read_batch(self, window: q.Window) -> None:
        binary = self._plan.mode is CopyMode.BINARY
        query = q.copy_out(self._plan, window, binary=binary, with_key_text=self._with_key_text)
        with self._core.cursor() as reader, reader.copy(query) as out:
            if not binary:
                for _ in self._stream(out, window, announced=True):
                    pass
                return
            # Nothing here looks at a row: the bytes in blocks, libpq's rows taken straight.
            for block in binary_blocks(self._core, out, COPY_BLOCK_BYTES, armed=self._armed):
                self._put(("block", block))

    def _stream(
        self, out: Iterable[Buffer], window: q.Window, *, announced: bool = False
    ) -> Iterator[Buffer]:
        """Hand ``out``'s rows to the consumer in blocks, yielding each row on the way;
        the batch (``window``) is announced at its first row unless it already was."""
        block, rows = bytearray(), 0
        for chunk in out:
            if not (announced or self._is_row(chunk)):  # binary COPY's end, no row before
                continue
            if not announced:
                self._put(("batch", window))
                announced = True
            block += chunk
            rows += 1
            if self._armed:
                kill_point("read")
            if len(block) >= COPY_BLOCK_BYTES:
                self._put(("block", (block, rows)))
                block, rows = bytearray(), 0
            yield chunk
        if block:
            self._put(("block", (block, rows)))
