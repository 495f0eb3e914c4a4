"""Backfills: a full load read in the heap's physical order, in chunks many runners share.

Reading a whole table in cursor order is an index scan that visits the heap
at random when the cursor does not follow the physical order (rows that were
updated): on the bench's random-order table, 0.34x a plain COPY. A backfill
instead cuts the heap into block ranges (``tablesync.backfill_chunks``) and
reads each with a TID range scan, sequential I/O whatever the cursor.

- **Plan** (one analytics transaction, under the definition's exclusive
  lock): the watermark of the moment (services/sync/read/watermark.py) fixes the
  *hand-over* position, just below it; the heap's size in blocks fixes the
  chunks. A partitioned source has no heap: each leaf partition's (sub-
  partitions and the default one included, services/store/heaps.py) is cut
  on its own, and its chunks read the leaf directly. Killed while planning,
  nothing is stored and the rerun plans again.
- **Chunks**: each runner claims a chunk with an advisory lock of its own
  (services/store/chunks.py), writes its rows and marks it done in the same
  analytics transaction. Killed at any instant, a chunk is done with its
  rows or not at all, and its lock dies with the runner's connection.
- **Hand-over**: the transaction that finishes the last chunk also saves the
  definition's position at the hand-over point. A chunk read is not one
  snapshot of the table: a row updated while the backfill runs may be read
  in its old version, or twice, or (moved to a block range already read) not
  at all. Every such row was written after the watermark, so its cursor is
  at or past it, and the incremental runs that follow read every one of them
  again, in cursor order, the latest version last. This relies on the
  watermark's assumption (the cursor is set by ``now()`` or later in the
  writing transaction), which is why only timestamp cursors backfill.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.base import (
    BACKFILL_CHUNK_BYTES,
    BACKFILL_VARIABLE,
    Position,
    RunSettings,
    Watermark,
    kill_point,
    save_position,
)
from services.store import (
    Backfill,
    Chunk,
    CopyMode,
    Heap,
    SourceHeaps,
    SyncPlan,
    chunks,
    leaf_now,
    source_heaps,
)
from services.store import sql as q
from services.sync.read import compute_watermark

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

# TID range scans (a chunk read without a sequential scan of the whole table).
_MIN_SERVER_VERSION = 140000
_HEAP_KINDS = {"r", "m"}  # a table or a materialized view: one heap with ctids
_PARTITIONED = "p"  # no heap of its own: each leaf partition's is cut into chunks


def why_not_backfill(plan: SyncPlan, core: Conn, settings: RunSettings) -> str | None:
    """Why ``plan``'s full load cannot be a backfill (then it reads in cursor order), or None."""
    if not settings.backfill:
        return f"{BACKFILL_VARIABLE} is off"
    if not plan.cursor.is_timestamp:
        return (
            f"the cursor {plan.cursor.name} is {plan.cursor.type_name}, not a timestamp: rows"
            " changed during a block-range read could not be found again by their cursor"
        )
    key_problem = _key_problem(plan)
    if key_problem is not None:
        return key_problem
    if plan.source.kind not in _HEAP_KINDS | {_PARTITIONED}:
        return f"{plan.source.qualified} is not a table (relkind {plan.source.kind!r})"
    version = core.info.server_version
    if version < _MIN_SERVER_VERSION:
        return f"core runs PostgreSQL {version // 10000}, and TID range scans need 14 or later"
    if plan.source.kind == _PARTITIONED:
        return _leaf_problem(plan, heaps_of(core, plan))
    return None


def _leaf_problem(plan: SyncPlan, found: SourceHeaps) -> str | None:
    """Why the leaf partitions of ``plan``'s source cannot be read one by one, or None.

    Each leaf is read directly (a chunk read through the parent would read that
    block range of every leaf), which takes SELECT on the leaf and skips the
    parent's row-level security policies (the leaf's own apply instead)."""
    for heap in found.heaps:
        assert heap.leaf is not None
        name = f"{heap.leaf.schema}.{heap.leaf.name}"
        if heap.kind not in _HEAP_KINDS:
            return f"its leaf partition {name} has no heap to cut (relkind {heap.kind!r})"
        if not heap.readable:
            return (
                f"its leaf partition {name} cannot be read directly (no SELECT on it), and"
                " chunks read each leaf's heap"
            )
        if heap.row_security:
            return (
                f"row-level security is enabled on {plan.source.qualified} or its leaf"
                f" partition {name}: a leaf read directly could see other rows than the parent"
            )
    return None


def _key_problem(plan: SyncPlan) -> str | None:
    """Why chunks read out of cursor order could keep an older row of a destination key.

    Rule 3 wants the row latest in cursor order to win a key. Chunks meet rows
    in the heap's order, so a backfill is allowed only when no two source rows
    can give one destination key: the key comes unchanged from source columns
    (no transform, or ``destination.key_source``) that hold a unique key of core.
    """
    mapping = plan.definition.key_columns
    if mapping is None and plan.expressions is not None:
        return (
            "a select whose conflict columns are not each a bare source column: which source"
            " row a destination key comes from is unknown, and a backfill meets rows out of"
            " cursor order"
        )
    if mapping is None:
        return (
            "a transform without destination.key_source: which source row a destination key"
            " comes from is unknown, and a backfill meets rows out of cursor order"
        )
    source_key = frozenset(mapping.values())
    if not any(unique <= source_key for unique in plan.source.unique_keys):
        return (
            f"the conflict key comes from {', '.join(sorted(source_key))}, not a unique key of"
            f" {plan.source.qualified}: a backfill meets rows out of cursor order, and an older"
            " row of a key could win over a later one"
        )
    return None


def chunk_pages(
    block_size: int,
    configured: int | None = None,
    *,
    rows_per_block: float | None = None,
    batch_size: int | None = None,
) -> int:
    """Heap blocks per chunk: TABLESYNC_BACKFILL_CHUNK_PAGES, else BACKFILL_CHUNK_BYTES' worth,
    or with a transform (``batch_size`` given) about a batch's rows: a transform worker
    holds its whole chunk, encoded, until the runner takes it."""
    default = max(1, BACKFILL_CHUNK_BYTES // block_size)
    if batch_size is not None and rows_per_block:
        default = min(default, max(1, math.ceil(batch_size / rows_per_block)))
    return max(1, default if configured is None else configured)


def planned_chunk_pages(plan: SyncPlan, found: SourceHeaps, settings: RunSettings) -> int:
    """``chunk_pages`` for ``plan``: sized by rows with a transform, by bytes without."""
    configured = settings.backfill_chunk_pages
    if plan.mode is not CopyMode.PYTHON:
        return chunk_pages(found.block_size, configured)
    per_block = found.rows_per_block
    return chunk_pages(
        found.block_size, configured, rows_per_block=per_block, batch_size=plan.batch_size
    )


def cut_into_chunks(found: SourceHeaps, per_chunk: int) -> list[Chunk]:
    """Each heap's blocks in ranges of ``per_chunk``, numbered heap after heap; the last
    range of each heap reads to its end, whatever was appended since. A partitioned
    source without a partition yet has one chunk over the parent, which reads nothing."""
    cut: list[Chunk] = []
    for heap in found.heaps or [Heap(None, 0, _PARTITIONED, True, False, 0.0, 0)]:
        count = max(1, -(-heap.pages // per_chunk))
        for n in range(count):
            end = None if n == count - 1 else (n + 1) * per_chunk
            pages = q.PageRange(n * per_chunk, end, heap.leaf)
            cut.append(Chunk(len(cut), pages, None if heap.leaf is None else heap.pages))
    return cut


def handover_position(core: Conn, plan: SyncPlan, watermark: Watermark) -> Position | None:
    """Where the runs after a backfill start: they read every row at or past ``watermark``.

    The last row below the watermark in cursor order, so that a table whose
    rows all predate the backfill ends at its last row as a cursor-order load
    would; every row written after the watermark sorts after it. With no such
    row, a position one second (one day for a date) below the watermark, so
    that no typmod rounding can lift it over a row. None: no watermark now.
    """
    if watermark.value is None:
        return None
    row = core.execute(q.last_row_below(plan, watermark)).fetchone()
    if row is not None:
        return Position.from_key_text(row[0], row[1], len(plan.cursor_ids))
    step = "1 day" if plan.cursor.base_type == "date" else "1 second"
    cursor_type = sql.SQL(plan.cursor.type_name)
    below = core.execute(
        sql.SQL("SELECT CAST(CAST({} AS {}) - CAST({} AS interval) AS {})::text").format(
            sql.Literal(watermark.value), cursor_type, sql.Literal(step), cursor_type
        )
    ).fetchone()
    assert below is not None
    return Position(value=str(below[0]))


def heaps_of(core: Conn, plan: SyncPlan) -> SourceHeaps:
    """The source's heaps now: its own, or each of its leaf partitions'."""
    table = q.source_table(plan).as_string(core)
    return source_heaps(core, table, partitioned=plan.source.kind == _PARTITIONED)


@dataclass(frozen=True)
class ChunkPlan:
    """A backfill as --dry-run and --status show it: the one under way, or the one the
    next run would plan (``planned`` False)."""

    planned: bool
    source_pages: int
    chunk_pages: int
    chunks_total: int
    chunks_done: int
    rows_done: int
    block_size: int
    leaves: int | None  # leaf partitions whose heaps are read; None: not partitioned

    def to_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "leaf_partitions": self.leaves,
            "source_blocks": self.source_pages,
            "chunk_blocks": self.chunk_pages,
            "chunk_bytes": self.chunk_pages * self.block_size,
            "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done,
            "rows_done": self.rows_done,
        }


def next_chunk_plan(
    core: Conn, analytics: Conn, plan: SyncPlan, saved: Position | None, settings: RunSettings
) -> ChunkPlan | None:
    """The backfill the next run of ``plan`` would do or join; None when it would run
    incrementally (a saved position, no backfill under way) or cannot backfill."""
    under_way = chunks.load_backfill(analytics, plan.job, plan.name)
    if under_way is not None and not under_way.finished:
        done = chunks.progress(analytics, plan.job, plan.name)
        found = heaps_of(core, plan)
        return ChunkPlan(
            True,
            under_way.source_pages,
            under_way.chunk_pages,
            under_way.chunks_total,
            0 if done is None else done.done,
            0 if done is None else done.rows,
            found.block_size,
            len(found.heaps) if found.partitioned else None,
        )
    if saved is not None or why_not_backfill(plan, core, settings) is not None:
        return None  # an incremental run, or a first load in cursor order: no heap read
    found = heaps_of(core, plan)
    per_chunk = planned_chunk_pages(plan, found, settings)
    total = len(cut_into_chunks(found, per_chunk))
    leaves = len(found.heaps) if found.partitioned else None
    return ChunkPlan(False, found.pages, per_chunk, total, 0, 0, found.block_size, leaves)


def plan_backfill(
    core: Conn, analytics: Conn, plan: SyncPlan, settings: RunSettings
) -> Backfill | None:
    """Fix the hand-over position and cut the heap into chunks; stored in one transaction.

    None when the watermark cannot be fixed now (open core transactions it
    cannot see): the run then holds back as an incremental run would.
    Call under the definition's exclusive lock.
    """
    wait_s = settings.writer_wait_for(plan.definition.writer_wait_s)
    watermark = compute_watermark(
        core, plan, None, safety_lag_s=plan.definition.safety_lag_s, wait_s=wait_s
    )
    handover = handover_position(core, plan, watermark)
    if handover is None:
        return None
    found = heaps_of(core, plan)
    per_chunk = planned_chunk_pages(plan, found, settings)
    cut = cut_into_chunks(found, per_chunk)
    empty = analytics.execute(q.destination_is_empty(plan)).fetchone()
    backfill = Backfill(
        job=plan.job,
        definition=plan.name,
        handover=handover,
        source_pages=found.pages,
        chunk_pages=per_chunk,
        chunks_total=len(cut),
        into_empty=bool(empty and empty[0]),
        finished=False,
    )
    with analytics.transaction():
        chunks.create_backfill(analytics, backfill, cut)
        kill_point("plan")
    log.debug(
        "%s: backfill planned: %d chunk(s) of %d block(s) over %d block(s) in %d heap(s);"
        " hand-over at %s",
        plan.name,
        backfill.chunks_total,
        per_chunk,
        found.pages,
        len(found.heaps),
        handover.value,
    )
    return backfill


def chunk_window(core: Conn, plan: SyncPlan, chunk: Chunk) -> q.Window:
    """The read of one chunk: every exportable row of its blocks, whatever its cursor.

    A leaf partition's chunk reads the leaf as core has it now: renamed since the
    plan, under its new name; dropped or detached, nothing (its rows are no longer
    the source's, and what earlier chunks copied of them is a hard delete for
    ``--verify --keys --repair``)."""
    pages, leaf = chunk.pages, chunk.pages.leaf
    if leaf is not None:
        table = q.source_table(plan).as_string(core)
        pages = dataclasses.replace(pages, leaf=leaf_now(core, table, leaf))
    window = q.Window(
        lower=None,
        upper=None,
        watermark=Watermark(value=None, inclusive=False),
        pages=pages,
    )
    count = q.count_left_out(plan, window)
    if count is None:
        return window
    row = core.execute(count).fetchone()  # rows source.where leaves out: skipped, not read
    return dataclasses.replace(window, left_out=int(row[0]) if row else 0)


def complete_chunk(
    analytics: Conn, plan: SyncPlan, backfill: Backfill, chunk: Chunk, *, rows: int, run_id: int
) -> Position | None:
    """Mark ``chunk`` done in the transaction that wrote its rows; when it is the last one,
    hand over: save the definition's position and close the plan, in that same
    transaction. Returns the hand-over position when this chunk finished the backfill."""
    left = chunks.mark_done(analytics, backfill, chunk, rows=rows, run_id=run_id)
    kill_point("chunk_done")
    if left:
        return None
    save_position(analytics, plan.job, plan.name, backfill.handover)
    chunks.mark_finished(analytics, backfill)
    kill_point("handover")
    log.debug(
        "%s: backfill done: every chunk is in; incremental runs take over after %s",
        plan.name,
        None if backfill.handover is None else backfill.handover.value,
    )
    return backfill.handover
