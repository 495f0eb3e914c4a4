"""Statuses and defaults, with their units in their names."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Status of one run record in ``tablesync.runs``."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"  # stopped by a signal (contract rule 13)

    def __str__(self) -> str:
        return self.value


DEFAULT_BATCH_SIZE = 10_000
# --jobs at most: each parallel run holds a connection to both databases.
MAX_JOBS = 32
# Bytes handed to a staging COPY per write (below psycopg's 128 KiB split size).
COPY_BLOCK_BYTES = 64 * 1024
# PostgreSQL's binary COPY framing: the signature, then 4 bytes of flags and 4 of
# header extension length (the header), the rows, and the trailer, a field count of -1.
COPY_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
COPY_BINARY_HEADER = COPY_BINARY_SIGNATURE + b"\x00" * 8
COPY_BINARY_TRAILER = b"\xff\xff"
# A backfill chunk's share of the source heap (services/sync/backfill/plan.py); the
# block count is this over the server's block size.
BACKFILL_CHUNK_BYTES = 32 * 1024 * 1024
# Rows a transform reads per chunked result (libpq 17's chunked rows mode): each
# chunk is decoded in C at once, ~40% less CPU than parsing COPY rows one by one.
# A chunk's rows are all decoded before its result is freed (services/sync/transform/read_rows.py):
# 1,000 of them held 2.3 MiB more at a time; 100 cost no more CPU (docs/benchmarks/round-7.md).
TRANSFORM_READ_ROWS = 100
# Read batch n+1 from core while batch n is written (no-transform runs only).
PREFETCH = True
DEFAULT_SOURCE_SCHEMA = "public"
DEFAULT_DESTINATION_SCHEMA = "analytics_raw"
RUNNER_SCHEMA = "tablesync"
# What a run record says started a run when TABLESYNC_ORIGIN does not say.
DEFAULT_ORIGIN = "cli"
CONNECT_TIMEOUT_S = 10
POOL_OPEN_TIMEOUT_S = 30.0
APPLICATION_NAME = "tablesync"
