"""Deterministic sample data for the core database ("StatEvent", "ImportJob").

The data is shaped to exercise the sync's edge cases: ~10 StatEvents share each
"updatedAt" value (ties across batch boundaries), ~5% have no source_id (the
StatEvent transform skips them), some sources are "publisher"/"widget" (the
transform rewrites/derives from them), some host/user values hold quotes, tabs,
backslashes and newlines, and ~10% of ImportJobs are still running (NULL
"finishedAt", so they are not exported until they finish).

Rows are generated one at a time and streamed through COPY, so a million rows
never sit in memory.

CLI::

    python -m tools.testdb.seed_core --url URL --stat-events 20000 --import-jobs 200
"""

from __future__ import annotations

import argparse
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

# A fixed origin keeps every generated timestamp (and so every checksum) stable.
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
ROWS_PER_TIMESTAMP = 10
NULL_SOURCE_ID_RATE = 0.05
RUNNING_IMPORT_JOB_RATE = 0.10

# Column name -> PostgreSQL type, in generated-row order (types drive binary COPY).
STAT_EVENT_COLUMNS = {
    "id": "text",
    "createdAt": "timestamptz",
    "updatedAt": "timestamptz",
    "type": "text",
    "source": "text",
    "source_id": "text",
    "source_name": "text",
    "from_publisher_id": "text",
    "to_publisher_id": "text",
    "mission_id": "text",
    "host": "text",
    "user": "text",
    "is_bot": "bool",
    "tags": "text[]",
    "custom_attributes": "jsonb",
}
IMPORT_JOB_COLUMNS = {
    "id": "uuid",
    "source": "text",
    "status": "text",
    "runAt": "timestamptz",
    "stats": "jsonb",
    "errorText": "text",
    "startedAt": "timestamptz",
    "finishedAt": "timestamptz",
    "nbCreated": "int4",
    "nbUpdated": "int4",
    "nbSkipped": "int4",
    "nbErrors": "int4",
}
_TYPES = ("click", "print", "apply", "account")
_TYPE_WEIGHTS = (60, 30, 8, 2)
_SOURCES = ("api", "widget", "campaign", "seo", "jstag", "publisher")
_SOURCE_WEIGHTS = (30, 20, 15, 10, 10, 15)
_TAGS = ("remote", "urgent", "weekend", "été", "a,b", 'quote"d', "")
# Values that break naive CSV/TEXT handling: the sync must carry them unchanged.
_AWKWARD_TEXT = ("O'Brien", 'say "hi"', "line1\nline2", "tab\there", "back\\slash", "ünï©ødé")


def stat_event_id(n: int) -> str:
    """The id of the n-th generated StatEvent, e.g. ``se-000000123``."""
    return f"se-{n:09d}"


def _awkward_or(rng: random.Random, plain: str) -> str:
    return rng.choice(_AWKWARD_TEXT) if rng.random() < 0.01 else plain


def _stat_event_row(rng: random.Random, n: int, updated_at: datetime) -> tuple[Any, ...]:
    """One "StatEvent" row, in STAT_EVENT_COLUMNS order."""
    source = rng.choices(_SOURCES, _SOURCE_WEIGHTS)[0]
    has_source_id = rng.random() >= NULL_SOURCE_ID_RATE
    attributes: dict[str, Any] | None = None
    if rng.random() < 0.7:
        attributes = {"utm_source": rng.choice(["google", "mail", None]), "n": n, "nested": {}}
    return (
        stat_event_id(n),
        updated_at - timedelta(minutes=rng.randrange(0, 60 * 24)),
        updated_at,
        rng.choices(_TYPES, _TYPE_WEIGHTS)[0],
        source,
        f"src-{rng.randrange(500)}" if has_source_id else None,
        f"Source {rng.randrange(500)}" if has_source_id else None,
        f"pub-{rng.randrange(50)}",
        f"pub-{rng.randrange(50)}",
        f"mission-{rng.randrange(10_000)}" if rng.random() < 0.8 else None,
        _awkward_or(rng, f"www.site-{rng.randrange(100)}.example"),
        _awkward_or(rng, f"user-{rng.randrange(100_000)}") if rng.random() < 0.9 else None,
        rng.random() < 0.03,
        rng.sample(_TAGS, rng.randrange(0, 4)) if rng.random() < 0.8 else None,
        Jsonb(attributes) if attributes is not None else None,
    )


def _stat_events(rng: random.Random, start: int, count: int) -> Iterator[tuple[Any, ...]]:
    """``count`` rows numbered from ``start``; ROWS_PER_TIMESTAMP rows share each second."""
    for n in range(start, start + count):
        yield _stat_event_row(rng, n, BASE_TIME + timedelta(seconds=n // ROWS_PER_TIMESTAMP))


def _import_jobs(rng: random.Random, count: int) -> Iterator[tuple[Any, ...]]:
    """``count`` "ImportJob" rows; ~10% running, finished ones tie by threes on "finishedAt"."""
    for n in range(count):
        started_at = BASE_TIME + timedelta(minutes=n)
        running = rng.random() < RUNNING_IMPORT_JOB_RATE
        failed = not running and rng.random() < 0.1
        created, updated, skipped = rng.randrange(1000), rng.randrange(1000), rng.randrange(50)
        yield (
            uuid.UUID(int=rng.getrandbits(128), version=4),
            rng.choice(["letudiant", "jobteaser", "api", "csv"]),
            "running" if running else ("failed" if failed else "succeeded"),
            started_at - timedelta(seconds=5),
            Jsonb({"pages": rng.randrange(1, 30), "source": {"format": "xml"}}),
            'timeout talking to "feed"\nretrying later' if failed else None,
            started_at,
            None if running else BASE_TIME + timedelta(minutes=(n // 3) * 3 + 2),
            created,
            updated,
            skipped,
            1 if failed else 0,
        )


def _copy_rows(
    cur: psycopg.Cursor[Any], table: str, columns: dict[str, str], rows: Iterator[tuple[Any, ...]]
) -> int:
    """COPY ``rows`` into ``table``; errors abort the COPY and propagate unchanged."""
    # Binary COPY: about twice as fast as text for a million rows.
    query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    with cur.copy(query) as copy:
        copy.set_types(list(columns.values()))
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def seed(core_url: str, *, stat_events: int, import_jobs: int, seed: int = 42) -> None:
    """Load ``stat_events`` "StatEvent" and ``import_jobs`` "ImportJob" rows into core.

    The same arguments always produce byte-identical rows (no now(), no
    server-side randomness). Loads in one transaction; the tables must exist
    (tools.testdb.core_schema.apply_core_schema) and should be empty.
    """
    rng = random.Random(seed)
    with psycopg.connect(core_url) as conn, conn.cursor() as cur:
        _copy_rows(cur, "StatEvent", STAT_EVENT_COLUMNS, _stat_events(rng, 0, stat_events))
        _copy_rows(cur, "ImportJob", IMPORT_JOB_COLUMNS, _import_jobs(rng, import_jobs))


def mutate(
    core_url: str,
    *,
    update_fraction: float,
    insert_count: int,
    finish_fraction: float = 0.5,
    seed: int = 43,
) -> dict[str, int]:
    """Simulate application activity since the last sync, in one transaction.

    Updates ``round(update_fraction * count)`` StatEvents (a deterministic choice:
    "updatedAt" = now(), source_name changed), inserts ``insert_count`` new
    StatEvents numbered after the highest existing id (with "updatedAt" = now()),
    and finishes ``round(finish_fraction * running)`` running ImportJobs.
    Returns the counts actually changed: ``stat_events_updated``,
    ``stat_events_inserted``, ``import_jobs_finished``.
    """
    rng = random.Random(seed)
    with psycopg.connect(core_url) as conn, conn.cursor() as cur:
        now, total, next_n = _core_snapshot(cur)
        cur.execute(
            """
            UPDATE "StatEvent"
            SET "updatedAt" = now(), "source_name" = coalesce("source_name", '') || ' (edited)'
            WHERE "id" IN (SELECT "id" FROM "StatEvent" ORDER BY md5("id" || %(seed)s), "id"
                           LIMIT %(n)s)
            """,
            {"seed": str(seed), "n": round(update_fraction * total)},
        )
        updated = cur.rowcount
        rows = (_stat_event_row(rng, n, now) for n in range(next_n, next_n + insert_count))
        inserted = _copy_rows(cur, "StatEvent", STAT_EVENT_COLUMNS, rows)
        finished = _finish_import_jobs(cur, finish_fraction=finish_fraction, seed=seed)
    return {
        "stat_events_updated": updated,
        "stat_events_inserted": inserted,
        "import_jobs_finished": finished,
    }


def _core_snapshot(cur: psycopg.Cursor[Any]) -> tuple[datetime, int, int]:
    """(transaction time, number of StatEvents, number for the next new StatEvent id)."""
    cur.execute(
        """SELECT now(), count(*),
                  coalesce(max(substr("id", 4)::bigint) FILTER (WHERE "id" ~ '^se-[0-9]+$'), -1) + 1
           FROM "StatEvent" """
    )
    row = cur.fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def _finish_import_jobs(cur: psycopg.Cursor[Any], *, finish_fraction: float, seed: int) -> int:
    cur.execute("""SELECT count(*) FROM "ImportJob" WHERE "finishedAt" IS NULL""")
    row = cur.fetchone()
    running = row[0] if row else 0
    cur.execute(
        """
        UPDATE "ImportJob"
        SET "status" = 'succeeded', "finishedAt" = now(), "nbCreated" = "nbCreated" + 1
        WHERE "id" IN (SELECT "id" FROM "ImportJob" WHERE "finishedAt" IS NULL
                       ORDER BY md5("id"::text || %(seed)s), "id" LIMIT %(n)s)
        """,
        {"seed": str(seed), "n": round(finish_fraction * running)},
    )
    return cur.rowcount


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.testdb.seed_core --url URL --stat-events N --import-jobs M [--seed S]``."""
    parser = argparse.ArgumentParser(prog="python -m tools.testdb.seed_core", description=__doc__)
    parser.add_argument("--url", required=True, help="core database URL (tables must exist)")
    parser.add_argument("--stat-events", type=int, required=True)
    parser.add_argument("--import-jobs", type=int, required=True)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    seed(args.url, stat_events=args.stat_events, import_jobs=args.import_jobs, seed=args.seed)
    print(f"seeded {args.stat_events} StatEvent and {args.import_jobs} ImportJob rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
