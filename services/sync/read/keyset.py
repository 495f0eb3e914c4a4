"""Incremental batches in one query each: the batch's end is the last row it read.

``KeysetPrefetcher`` is the prefetch thread (services/sync/read/prefetch.py) for
runs that stage their batches: each batch is one ``COPY (SELECT ... WHERE key
> position AND cursor < watermark ORDER BY key LIMIT n) TO STDOUT``, an index
range scan read straight into COPY, no separate query for the batch's end and
no sort (services/store/sql.copy_next_batch; the thread's session turns sorts
off while it reads, ``sorts_allowed``: for a window of freshly updated rows the
planner favours a sort, which holds back the batch's first row until it ends).
Each row carries its key as text after its columns (the staging table keeps
it), so the end is read from the last row: its last two fields, parsed from
the COPY data. A batch shorter than ``batch_size`` is the last one, and no
empty query follows it.
"""

from __future__ import annotations

import re
import struct
from typing import Any

import psycopg
from psycopg.abc import Buffer
from psycopg.pq import TransactionStatus

from services.base import (
    COPY_BINARY_HEADER,
    COPY_BINARY_SIGNATURE,
    COPY_BINARY_TRAILER,
    Position,
    Watermark,
)
from services.store import CopyMode, SyncPlan
from services.store import sql as q
from services.sync.read.prefetch import Prefetcher

_HEADER_BYTES = len(COPY_BINARY_HEADER)
_TEXT_ESCAPE = re.compile(r"\\(.)")
_TEXT_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}


def is_row(chunk: Buffer, *, binary: bool) -> bool:
    """Whether a COPY message holds a row, not only binary COPY's end marker (with the
    header before it when no row came)."""
    if not binary or len(chunk) not in (2, _HEADER_BYTES + 2):
        return True
    data = bytes(chunk)
    ends = data.endswith(COPY_BINARY_TRAILER)
    return not (ends and (len(data) == 2 or data.startswith(COPY_BINARY_SIGNATURE)))


def last_fields_binary(data: Buffer) -> tuple[str | None, str | None]:
    """The last two fields of one binary COPY row, as text (they are text columns)."""
    row = bytes(data)
    at = _HEADER_BYTES if row.startswith(COPY_BINARY_SIGNATURE) else 0
    (count,) = struct.unpack_from("!h", row, at)
    at += 2
    fields: list[bytes | None] = []
    for _ in range(count):  # walk the lengths: only the last two fields are text
        (length,) = struct.unpack_from("!i", row, at)
        at += 4
        fields.append(None if length < 0 else row[at : at + length])
        at += max(length, 0)
    value, row_id = fields[-2], fields[-1]
    return (
        None if value is None else value.decode(),
        None if row_id is None else row_id.decode(),
    )


def last_fields_text(row: Buffer) -> tuple[str | None, str | None]:
    """The last two fields of one text COPY row, unescaped (``\\N`` is NULL)."""
    fields = bytes(row).decode().rstrip("\n").split("\t")

    def unescape(field: str) -> str | None:
        if field == "\\N":
            return None
        return _TEXT_ESCAPE.sub(lambda m: _TEXT_ESCAPES.get(m.group(1), m.group(1)), field)

    return unescape(fields[-2]), unescape(fields[-1])


class KeysetPrefetcher(Prefetcher):
    """The prefetch thread, each batch in one query from where the last one ended."""

    def __init__(
        self,
        plan: SyncPlan,
        core: psycopg.Connection[Any],
        start: Position | None,
        watermark: Watermark,
    ) -> None:
        super().__init__(plan, core, lambda window: None, with_key_text=True)
        self._start, self._watermark = start, watermark
        self._binary = plan.mode is CopyMode.BINARY

    def _is_row(self, chunk: Buffer) -> bool:
        return is_row(chunk, binary=self._binary)

    def _read_all(self) -> None:
        # The connection is the thread's until the prefetcher closes (prefetch.py).
        self._core.execute(q.sorts_allowed(False))
        try:
            self._read_batches()
        finally:
            if self._core.info.transaction_status is TransactionStatus.IDLE:  # not lost
                self._core.execute(q.sorts_allowed(True))  # the pool's next user plans as usual

    def _read_batches(self) -> None:
        after = self._start
        while self._take_slot():
            rows, end = self._read_next(q.Window(after, None, self._watermark))
            if end is None:
                return
            self._put(("end", end))
            if rows < self._plan.batch_size:  # the last batch: no empty query after it
                return
            after = end

    def _read_next(self, window: q.Window) -> tuple[int, Position | None]:
        """Stream the batch after ``window.lower``; (rows, its last row's key), (0, None)
        when no row is left. The batch is announced at its first row."""
        binary = self._plan.mode is CopyMode.BINARY
        query = q.copy_next_batch(self._plan, window, binary=binary)
        last: Buffer | None = None
        rows = 0
        with self._core.cursor() as reader, reader.copy(query) as out:
            for chunk in self._stream(out, window):
                if is_row(chunk, binary=binary):
                    last, rows = chunk, rows + 1
        if last is None:
            return 0, None
        value, row_id = (last_fields_binary if binary else last_fields_text)(last)
        assert value is not None  # the window predicate keeps NULL cursors out
        return rows, Position.from_key_text(value, row_id, len(self._plan.cursor_ids))
