"""A backfill's binary COPY read in blocks straight from libpq (services/sync/read/copy_read.py):
the same bytes psycopg's per-row read gives, the server's own error when a query
fails mid-COPY, and a connection fit for the next statement either way."""

from __future__ import annotations

import psycopg
import pytest
from dbtools import TestDatabases
from synctools import definition, on_both, sync

from services.base.constants import COPY_BINARY_HEADER, COPY_BINARY_TRAILER
from services.sync.read.copy_read import binary_blocks

ROWS = 3000
SELECT = (
    "SELECT g AS id, timestamptz '2026-01-01' + g * interval '1 s' AS ts,"
    " repeat('x', mod(g, 97)) AS v FROM generate_series(1, %s) g"
)


def _copy(rows: int = ROWS, select: str = SELECT) -> str:
    return f"COPY ({select % rows}) TO STDOUT (FORMAT BINARY)"


def test_the_blocks_are_the_bytes_of_the_copy_in_order(dbs: TestDatabases) -> None:
    conn = dbs.core()
    with conn.cursor() as cur, cur.copy(_copy()) as out:
        expected = b"".join(bytes(row) for row in out)
    with conn.cursor() as cur:
        with cur.copy(_copy()) as out:
            blocks = list(binary_blocks(conn, out, 4096))
        assert cur.rowcount == ROWS  # psycopg read the COPY's end: its result
    assert b"".join(block for block, _ in blocks) == expected
    assert all(len(block) >= 4096 for block, _ in blocks[:-1])
    assert blocks[-1][0].endswith(COPY_BINARY_TRAILER)
    assert sum(messages for _, messages in blocks) == ROWS + 1  # and the trailer
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_copy_of_no_rows_is_its_header_and_trailer_in_one_message(dbs: TestDatabases) -> None:
    # A chunk whose blocks hold no exportable row (a leaf partition dropped or detached
    # during a backfill, dead rows, NULL cursors): the server sends the header and the
    # trailer as one message, so the trailer is not a message of its own.
    conn = dbs.core()
    with conn.cursor() as cur:
        with cur.copy(_copy(0)) as out:
            blocks = list(binary_blocks(conn, out, 4096))
        assert cur.rowcount == 0
    assert [(bytes(block), n) for block, n in blocks] == [
        (COPY_BINARY_HEADER + COPY_BINARY_TRAILER, 1)
    ]
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_query_failing_mid_copy_raises_the_server_error(dbs: TestDatabases) -> None:
    conn = dbs.core()
    failing = "SELECT g, 1 / (g - %s) FROM generate_series(1, 5000) g"
    with (
        pytest.raises(psycopg.errors.DivisionByZero),
        conn.cursor() as cur,
        cur.copy(_copy(4000, failing)) as out,
    ):
        for _ in binary_blocks(conn, out, 1024):
            pass
    assert conn.execute("SELECT 2").fetchone() == (2,)  # the COPY's end was read


def test_a_backfill_takes_rows_from_libpq_not_one_read_per_row(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, ts timestamptz NOT NULL, v text)")
    dbs.query_core(
        "INSERT INTO t SELECT g, now() - g * interval '1 second', repeat('v', mod(g, 50))"
        " FROM generate_series(1, %s) g",
        (ROWS,),
    )
    reads = []
    read = psycopg.Copy.read

    def counted(copy: psycopg.Copy) -> object:
        reads.append(1)
        return read(copy)

    monkeypatch.setattr(psycopg.Copy, "read", counted)
    result = sync(dbs, definition("t", "ts", id_field="id"))

    assert result.chunks is not None and result.counts.read == ROWS
    core = dbs.query_core("SELECT id, ts, v FROM t ORDER BY id")
    assert dbs.query_analytics("SELECT id, ts, v FROM t ORDER BY id") == core
    assert len(reads) < ROWS / 10, f"{len(reads)} Copy.read() calls for {ROWS} rows"
