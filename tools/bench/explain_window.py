"""`python -m tools.bench.explain_window`: EXPLAIN (ANALYZE, BUFFERS) of one batch window's read.

Seeds the bench's random-order table (BENCH_ROWS, default 1,000,000) on a
throwaway server (or BENCH_*_URL), takes a window of BENCH_BATCH_SIZE rows
half way through in cursor order, and explains the read tablesync composes
for it (services/store/sql.py ``select_rows``) beside the same read with the
row comparison alone, as it was composed before the cursor had bounds of its
own. Then the incremental run's keyset read (``next_batch``, sorts off as the
run reads it) after that row, with a tie-breaker of one column and, on a copy
of the table keyed on two columns (``(actor_id, film_id)``, indexed with the
cursor), of two: each should be an index scan of the cursor index that stops
after a batch.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import psycopg
from psycopg import sql

from services.base.definition import CursorSpec
from services.base.position import Position, Watermark
from services.store import sql as q
from services.store.catalog import find_table
from services.store.plan import CopyMode, SyncPlan
from services.store.preflight import plan_definition
from tools.bench.data import SOURCES
from tools.bench.driver import JOB, definition, definition_name
from tools.bench.headline import Bench, batch_size_from_env, on_bench_databases, prepare, say

_EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS) "
PAIR_TABLE = "bench_event_pair"
# The random table again, its id cut into a key of two columns (16 films an actor).
_PAIR_SQL = """
DROP TABLE IF EXISTS {pair};
CREATE TABLE {pair} AS SELECT id / 16 AS actor_id, id % 16 AS film_id, t.* FROM {table} t;
ALTER TABLE {pair} DROP COLUMN id, ADD PRIMARY KEY (actor_id, film_id);
CREATE INDEX ON {pair} (updated_at, actor_id, film_id);
ANALYZE {pair};
"""


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
            _explain(core, title, query, args)
        _explain_keyset(core, plan, lower, "1-column id_field (id)")
        pair = _pair_plan(core, source.table, plan)
        pair_lower = _nth(core, PAIR_TABLE, rows // 2, ["actor_id", "film_id"])
        _explain_keyset(core, pair, pair_lower, "2-column id_field (actor_id, film_id)")
    return 0


def _explain(
    core: psycopg.Connection[Any], title: str, query: sql.Composed, args: dict[str, Any] | None
) -> None:
    core.execute(query, args).fetchall()  # warm the cache alike for every read
    found = core.execute(sql.SQL(_EXPLAIN) + query, args).fetchall()
    print(f"== {title}")
    print("\n".join(f"   {line}" for (line,) in found))


def _explain_keyset(
    core: psycopg.Connection[Any], plan: SyncPlan, after: Position, title: str
) -> None:
    """The incremental run's read of its next batch after ``after``, as the run reads it."""
    mark = Watermark(value="9999-01-01 00:00:00+00", inclusive=False)
    core.execute(q.sorts_allowed(False))
    try:
        _explain(
            core,
            f"keyset next batch, {title}",
            q.next_batch(plan, q.Window(after, None, mark)),
            None,
        )
    finally:
        core.execute(q.sorts_allowed(True))


def _pair_plan(core: psycopg.Connection[Any], table: str, like: SyncPlan) -> SyncPlan:
    """A plan reading PAIR_TABLE in (updated_at, actor_id, film_id) order (core's side only)."""
    core.execute(
        sql.SQL(_PAIR_SQL).format(pair=sql.Identifier(PAIR_TABLE), table=sql.Identifier(table))
    )
    found = find_table(core, "public", PAIR_TABLE)
    assert found is not None
    cursor = CursorSpec(field="updated_at", id_field=["actor_id", "film_id"])
    source = like.definition.source.model_copy(update={"table": PAIR_TABLE, "cursor": cursor})
    definition = like.definition.model_copy(update={"source": source, "transform": None})
    return SyncPlan(JOB, PAIR_TABLE, definition, found, found, list(found.columns), CopyMode.BINARY)


def _nth(
    conn: psycopg.Connection[Any],
    table: str,
    offset: int,
    ids: tuple[str, ...] | list[str] = ("id",),
) -> Position:
    """The key of the row ``offset`` rows into ``table`` in cursor order, as text."""
    columns = [sql.Identifier("t", n) for n in ("updated_at", *ids)]
    row = conn.execute(
        sql.SQL("SELECT {} FROM {} t ORDER BY {} OFFSET %s LIMIT 1").format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(c) for c in columns),
            sql.Identifier(table),
            sql.SQL(", ").join(columns),
        ),
        (offset,),
    ).fetchone()
    assert row is not None, "the table holds fewer rows than asked for"
    return Position(value=row[0], ids=tuple(row[1:]))


def main() -> int:
    return on_bench_databases(explain, "explain_core", "explain_analytics", drop_after=True)


if __name__ == "__main__":
    sys.exit(main())
