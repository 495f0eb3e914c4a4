"""A binary ``COPY ... TO STDOUT`` read in blocks, at a fraction of psycopg's cost per row.

The server sends a COPY one message per row, and ``Copy.read()`` takes each
through psycopg's wait loop: a generator and a round of calls per row, about
0.6 CPU-us of the runner's ~1 us per pass-through row (``python -m
tools.bench.runners``, docs/benchmarks/round-7.md, "Two runners"). A backfill's
runner only hands the bytes on, so this takes the rows libpq already holds
straight from ``PGconn.get_copy_data``, and goes through ``Copy.read()`` only
when libpq has none (it waits for the socket) and for the end of the COPY:
the binary format's trailer is the last data message, so the read stops
there and psycopg reads the end itself, its result and its errors as ever.
An error that ends the COPY before its trailer (a cancel, a failed query)
is read as psycopg reads a COPY's end, and raised unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import errors, generators, pq

from services.base import COPY_BINARY_HEADER, COPY_BINARY_TRAILER, kill_point

# The binary COPY trailer is the last data message of the stream; a COPY of no rows
# is one message, its header and trailer together.
_TRAILER_BYTES = len(COPY_BINARY_TRAILER)  # compared per row: a constant, not a call
_NO_ROWS = COPY_BINARY_HEADER + COPY_BINARY_TRAILER


def binary_blocks(
    conn: psycopg.Connection[Any], out: psycopg.Copy, size: int, *, armed: bool = False
) -> Iterator[tuple[bytearray, int]]:
    """``out``'s data (a binary COPY TO under way on ``conn``) as blocks of at least
    ``size`` bytes (the last one shorter) and the messages in each; ``armed``: a
    kill point per message (services/base/testhooks.py)."""
    get = conn.pgconn.get_copy_data
    block, messages = bytearray(), 0
    while True:
        nbytes, data = get(1)
        if nbytes == 0:  # libpq holds no whole row: psycopg waits for the socket
            data = memoryview(out.read())
            nbytes = len(data)
        if nbytes <= 0:
            if nbytes < 0:
                raise ended_early(conn)
            break  # read() found the end (cannot be: the trailer comes first)
        block += data
        messages += 1
        if armed:
            kill_point("read")
        if nbytes == _TRAILER_BYTES and data == COPY_BINARY_TRAILER:
            break
        if messages == 1 and data == _NO_ROWS:
            break
        if len(block) >= size:
            yield block, messages
            block, messages = bytearray(), 0
    if block:
        yield block, messages
    if out.read():  # psycopg reads the end: the result (the row count), or its error
        raise psycopg.ProgrammingError("binary COPY data after its trailer")


def ended_early(conn: psycopg.Connection[Any]) -> psycopg.Error:
    """The error that ended a COPY before its trailer, read as psycopg reads a COPY's end
    (``generators.copy_from``): every result of the statement, the failed one raised."""
    results = conn.wait(generators.fetch_many(conn.pgconn))
    for result in results:
        if result.status != pq.ExecStatus.COMMAND_OK:
            return errors.error_from_result(result, encoding=conn.info.encoding)
    return psycopg.ProgrammingError("a binary COPY ended without its trailer")
