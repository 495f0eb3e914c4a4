"""`python -m tools.explain_window`: EXPLAIN (ANALYZE, BUFFERS) of one batch window's read.

Seeds the bench's random-order table (BENCH_ROWS, default 1,000,000) on a
throwaway server (or BENCH_*_URL), takes a window of BENCH_BATCH_SIZE rows
half way through in cursor order, and explains the read tablesync composes
for it (services/store/sql.py ``select_rows``) beside the same read with the
row comparison alone, as it was composed before the cursor had bounds of its
own.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import psycopg
from psycopg import sql

from services.base.position import Position, Watermark
from services.store import sql as q
from services.store.preflight import plan_definition
from tools.bench import Bench, batch_size_from_env, on_bench_databases, prepare, say
from tools.bench_data import SOURCES
from tools.bench_driver import JOB, definition, definition_name

_EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS) "


def _row_comparison_alone(table: str) -> sql.Composed:
    """The window read as composed before the cursor had bounds of its own."""
    return sql.SQL(
        "SELECT * FROM {} WHERE updated_at IS NOT NULL AND id IS NOT NULL"
        " AND (updated_at, id) > (%(lv)s, %(li)s) AND (updated_at, id) <= (%(uv)s, %(ui)s)"
        " AND updated_at < now() ORDER BY updated_at, id"
    ).format(sql.Identifier(table))


def explain(core_url: str, analytics_url: str) -> int:
    source = SOURCES["random"]
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    # A batch's rows, or a quarter of a table too small for one.
    size = min(batch_size_from_env(), rows // 4)
    bench = Bench(core_url, analytics_url, rows, 1, size, sources=[source])
    prepare(core_url, analytics_url, [source])
    say(f"seeding {rows:,} rows of [{source.key}]")
    bench.seed(source, rows)
    with (
        psycopg.connect(core_url, autocommit=True) as core,
        psycopg.connect(analytics_url, autocommit=True) as analytics,
    ):
        lower, upper = (_nth(core, source.table, n) for n in (rows // 2, rows // 2 + size))
        name = definition_name("copy", source)
        plan = plan_definition(
            JOB, name, definition("copy", size, source), core=core, analytics=analytics
        )
        mark = Watermark(value="9999-01-01 00:00:00+00", inclusive=False)
        now = q.select_rows(plan, q.Window(lower, upper, mark), with_key_text=False)
        params = {"lv": lower.value, "li": lower.ids[0], "uv": upper.value, "ui": upper.ids[0]}
        reads: dict[str, tuple[sql.Composed, dict[str, Any] | None]] = {
            "row comparison alone (before)": (_row_comparison_alone(source.table), params),
            "select_rows as tablesync composes it now": (now, None),
        }
        for title, (query, args) in reads.items():
            core.execute(query, args).fetchall()  # warm the cache alike for both
            found = core.execute(sql.SQL(_EXPLAIN) + query, args).fetchall()
            print(f"== {title}")
            print("\n".join(f"   {line}" for (line,) in found))
    return 0


def _nth(conn: psycopg.Connection[Any], table: str, offset: int) -> Position:
    """The key of the row ``offset`` rows into ``table`` in cursor order, as text."""
    row = conn.execute(
        sql.SQL(
            "SELECT t.updated_at::text, t.id::text FROM {} t"
            " ORDER BY t.updated_at, t.id OFFSET %s LIMIT 1"
        ).format(sql.Identifier(table)),
        (offset,),
    ).fetchone()
    assert row is not None, "the table holds fewer rows than asked for"
    return Position(value=row[0], ids=(row[1],))


def main() -> int:
    return on_bench_databases(explain, "explain_core", "explain_analytics", drop_after=True)


if __name__ == "__main__":
    sys.exit(main())
