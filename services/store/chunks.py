"""The backfill's bookkeeping in analytics: one plan per definition, one row per chunk.

A chunk is a range of heap blocks (``sql.PageRange``) of the source, or of one
of its leaf partitions when it is partitioned (its oid and name). Runners
claim chunks with a session-level advisory lock per chunk (two int4 keys:
the definition's hash and the chunk number, a lock space apart from the
definition lock's single bigint keys), so a runner can hold the chunk it
writes and the one it reads ahead at once, and a killed runner's claims die
with its connection. A chunk's ``done_at`` is set in the transaction that
writes its rows (``mark_done``): done means its rows are in, never one
without the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.base import RUNNER_SCHEMA, Position, TransientError, stored_columns, stored_ids
from services.store.sql import Leaf, PageRange

Conn = psycopg.Connection[Any]

_BACKFILLS = sql.Identifier(RUNNER_SCHEMA, "backfills")
_CHUNKS = sql.Identifier(RUNNER_SCHEMA, "backfill_chunks")
_CHUNK_KEY = "hashtext('tablesync-chunk:' || %(job)s || ':' || %(definition)s)"
# Candidates fetched per claim: a runner tries their locks in order until one is free.
_CLAIM_WINDOW = 64


@dataclass(frozen=True)
class Backfill:
    """One definition's backfill plan, as stored."""

    job: str
    definition: str
    handover: Position | None  # where the incremental runs take over; None: nothing to re-read
    source_pages: int
    chunk_pages: int
    chunks_total: int
    into_empty: bool  # the destination was empty when planned: chunks may COPY straight in
    finished: bool

    @property
    def names(self) -> dict[str, str]:
        return {"job": self.job, "definition": self.definition}


@dataclass(frozen=True)
class Chunk:
    """One claimable block range of a backfill (of one leaf partition's heap, or the
    source's own)."""

    number: int
    pages: PageRange
    leaf_pages: int | None = None  # its leaf's blocks when planned: a last chunk's end


@dataclass(frozen=True)
class Progress:
    """How far a backfill got: chunks done of all, rows those chunks read, and heap blocks
    those chunks cover of all the plan's (the last chunk's reach ends at the plan's size)."""

    done: int
    total: int
    rows: int
    finished: bool
    pages_done: int = 0
    pages_total: int = 0


def load_backfill(conn: Conn, job: str, definition: str) -> Backfill | None:
    """The definition's latest backfill plan, finished or not; None when there is none."""
    row = conn.execute(
        sql.SQL(
            "SELECT handover_value, handover_id, source_pages, chunk_pages, chunks_total,"
            " into_empty, finished_at IS NOT NULL, handover_ids FROM {}"
            " WHERE job = %s AND definition = %s"
        ).format(_BACKFILLS),
        (job, definition),
    ).fetchone()
    if row is None:
        return None
    handover = None if row[0] is None else Position(value=row[0], ids=stored_ids(row[1], row[7]))
    return Backfill(job, definition, handover, row[2], row[3], row[4], row[5], row[6])


def create_backfill(conn: Conn, backfill: Backfill, chunks: list[Chunk]) -> None:
    """Store ``backfill`` and its ``chunks``, replacing any earlier plan; in the caller's
    transaction, so a plan is stored whole or not at all."""
    forget_backfill(conn, backfill.job, backfill.definition)
    handover = backfill.handover
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (job, definition, handover_value, handover_id, handover_ids,"
            " source_pages, chunk_pages, chunks_total, into_empty)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(_BACKFILLS),
        (
            backfill.job,
            backfill.definition,
            *stored_columns(handover),
            backfill.source_pages,
            backfill.chunk_pages,
            backfill.chunks_total,
            backfill.into_empty,
        ),
    )
    numbers = [c.number for c in chunks]
    leaves = [c.pages.leaf for c in chunks]
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (job, definition, chunk, first_page, end_page, leaf_oid,"
            " leaf_schema, leaf_name, leaf_pages) SELECT %(job)s, %(definition)s, c.* FROM"
            " unnest(%(numbers)s::int[], %(firsts)s::bigint[], %(ends)s::bigint[],"
            " %(oids)s::bigint[], %(schemas)s::text[], %(names)s::text[],"
            " %(leaf_pages)s::bigint[]) AS c"
        ).format(_CHUNKS),
        {
            **backfill.names,
            "numbers": numbers,
            "firsts": [c.pages.first for c in chunks],
            "ends": [c.pages.end for c in chunks],
            "oids": [None if leaf is None else leaf.oid for leaf in leaves],
            "schemas": [None if leaf is None else leaf.schema for leaf in leaves],
            "names": [None if leaf is None else leaf.name for leaf in leaves],
            "leaf_pages": [c.leaf_pages for c in chunks],
        },
    )


def forget_backfill(conn: Conn, job: str, definition: str) -> None:
    """Drop the definition's backfill plan and its chunks (a reset starts afresh)."""
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE job = %s AND definition = %s").format(_BACKFILLS),
        (job, definition),
    )


def open_chunks(conn: Conn, backfill: Backfill, after: int) -> list[Chunk]:
    """Chunks not done yet, numbered after ``after``, first ones first (a few at a time)."""
    rows = conn.execute(
        sql.SQL(
            "SELECT chunk, first_page, end_page, leaf_oid, leaf_schema, leaf_name FROM {}"
            " WHERE job = %(job)s"
            " AND definition = %(definition)s AND done_at IS NULL AND chunk > %(after)s"
            " ORDER BY chunk LIMIT %(limit)s"
        ).format(_CHUNKS),
        {**backfill.names, "after": after, "limit": _CLAIM_WINDOW},
    ).fetchall()
    return [Chunk(number=r[0], pages=PageRange(r[1], r[2], _leaf(r[3], r[4], r[5]))) for r in rows]


def _leaf(oid: int | None, schema: str | None, name: str | None) -> Leaf | None:
    if oid is None or schema is None or name is None:
        return None  # a chunk of the source's own heap
    return Leaf(oid=oid, schema=schema, name=name)


def try_claim(conn: Conn, backfill: Backfill, chunk: Chunk) -> bool:
    """Take ``chunk``'s advisory lock on ``conn`` if free and the chunk is still not done.

    Done is read after the lock is held: a runner that finished the chunk
    committed before it let the lock go, so this read sees its commit.
    """
    params = {**backfill.names, "chunk": chunk.number}
    row = conn.execute(f"SELECT pg_try_advisory_lock({_CHUNK_KEY}, %(chunk)s)", params).fetchone()
    if not (row and row[0]):
        return False
    done = conn.execute(
        sql.SQL(
            "SELECT done_at IS NOT NULL FROM {} WHERE job = %(job)s"
            " AND definition = %(definition)s AND chunk = %(chunk)s"
        ).format(_CHUNKS),
        params,
    ).fetchone()
    if done is None or done[0]:
        release(conn, backfill, chunk)
        return False
    return True


def release(conn: Conn, backfill: Backfill, chunk: Chunk) -> None:
    """Let ``chunk``'s lock go (after its transaction committed or rolled back)."""
    params = {**backfill.names, "chunk": chunk.number}
    conn.execute(f"SELECT pg_advisory_unlock({_CHUNK_KEY}, %(chunk)s)", params)


def mark_done(conn: Conn, backfill: Backfill, chunk: Chunk, *, rows: int, run_id: int) -> int:
    """Mark ``chunk`` done in the caller's transaction (the one writing its rows), then
    return how many chunks are left, counted under the plan's row lock so the
    transactions finishing the last chunks see each other's commits."""
    params = {**backfill.names, "chunk": chunk.number, "rows": rows, "run_id": run_id}
    marked = conn.execute(
        sql.SQL(
            "UPDATE {} SET done_at = now(), rows_read = %(rows)s, run_id = %(run_id)s"
            " WHERE job = %(job)s AND definition = %(definition)s AND chunk = %(chunk)s"
            " AND done_at IS NULL"
        ).format(_CHUNKS),
        params,
    )
    if marked.rowcount != 1:
        # Only a claim lost with its connection lets two runners write one chunk: the
        # one that committed first counts, this transaction is rolled back.
        raise TransientError(
            f"{backfill.definition}: chunk {chunk.number} was done by another runner"
            " meanwhile (this runner's claim on it was lost)"
        )
    conn.execute(
        sql.SQL(
            "SELECT 1 FROM {} WHERE job = %(job)s AND definition = %(definition)s FOR UPDATE"
        ).format(_BACKFILLS),
        params,
    )
    row = conn.execute(
        sql.SQL(
            "SELECT count(*) FROM {} WHERE job = %(job)s AND definition = %(definition)s"
            " AND done_at IS NULL"
        ).format(_CHUNKS),
        params,
    ).fetchone()
    return int(row[0]) if row else 0


def mark_finished(conn: Conn, backfill: Backfill) -> None:
    """The backfill is over (every chunk done); in the transaction of its last chunk."""
    conn.execute(
        sql.SQL(
            "UPDATE {} SET finished_at = now() WHERE job = %(job)s AND definition = %(definition)s"
        ).format(_BACKFILLS),
        backfill.names,
    )


def progress(conn: Conn, job: str, definition: str) -> Progress | None:
    """Chunks done / total and rows read so far of the definition's backfill, if any."""
    row = conn.execute(
        sql.SQL(
            "SELECT count(*) FILTER (WHERE c.done_at IS NOT NULL), b.chunks_total,"
            " coalesce(sum(c.rows_read), 0), b.finished_at IS NOT NULL,"
            " coalesce(sum(greatest("
            "coalesce(c.end_page, c.leaf_pages, b.source_pages) - c.first_page, 0))"
            " FILTER (WHERE c.done_at IS NOT NULL), 0), b.source_pages"
            " FROM {} b LEFT JOIN {} c USING (job, definition)"
            " WHERE b.job = %s AND b.definition = %s"
            " GROUP BY b.chunks_total, b.finished_at, b.source_pages"
        ).format(_BACKFILLS, _CHUNKS),
        (job, definition),
    ).fetchone()
    if row is None:
        return None
    return Progress(
        done=int(row[0]),
        total=int(row[1]),
        rows=int(row[2]),
        finished=bool(row[3]),
        pages_done=int(row[4]),
        pages_total=max(int(row[5]), 1),
    )
