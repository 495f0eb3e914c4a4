"""A batch window's rows are read through the cursor index, not by scanning the table.

The window is a (cursor, id) row comparison, for which the planner has no
statistics: alone, it guessed a third of the table for a 10k-row window and
planned a parallel seq scan and a sort. The predicate also bounds the cursor
by itself (services/store/sql.py ``_cursor_bound``), which it can estimate.
The table's cursor is in random order, as in a table whose rows get updated.
"""

from __future__ import annotations

import json
from typing import Any

from dbtools import TestDatabases
from definitions import events
from faultkit import create_events

from services.base.position import Position, Watermark
from services.store import sql as q
from services.store.preflight import plan_definition

ROWS = 200_000
WINDOW_START, WINDOW_ROWS = 20_000, 500


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


def test_a_window_of_a_random_order_table_reads_through_the_cursor_index(
    dbs: TestDatabases,
) -> None:
    create_events(dbs)
    dbs.query_core(
        "INSERT INTO events (at, payload)"
        " SELECT '2026-01-01'::timestamptz + make_interval(secs => (hashint4(g) & 65535) / 4.0),"
        " repeat('x', 200) FROM generate_series(1, %s) g",
        (ROWS,),
    )
    dbs.query_core("CREATE INDEX ON events (at, id)")
    dbs.query_core("ANALYZE events")
    lower, upper = (
        dbs.query_core(
            "SELECT at::text, id::text FROM events ORDER BY events.at, events.id OFFSET %s LIMIT 1",
            (offset,),
        )[0]
        for offset in (WINDOW_START, WINDOW_START + WINDOW_ROWS)
    )
    plan = plan_definition(
        "export-to-pg", "Events", events(), core=dbs.core(), analytics=dbs.analytics()
    )
    window = q.Window(
        lower=Position(value=lower[0], id=lower[1]),
        upper=Position(value=upper[0], id=upper[1]),
        watermark=Watermark(value="2027-01-01 00:00:00+00", inclusive=False),
    )
    select = q.select_rows(plan, window, with_key_text=False)

    rows = dbs.core().execute(select).fetchall()
    explained = dbs.core().execute(b"EXPLAIN (FORMAT JSON) " + select.as_bytes(dbs.core()))
    nodes = _nodes(json.loads(json.dumps(explained.fetchone()[0]))[0]["Plan"])  # type: ignore[index]

    assert len(rows) == WINDOW_ROWS
    scans = [n for n in nodes if "Scan" in n["Node Type"]]
    assert not any("Seq Scan" in n["Node Type"] for n in scans), scans
    # The planner's guess of the window's size is of the right order, not a third of the table.
    estimated = max(n["Plan Rows"] * (1 + n.get("Workers Planned", 0)) for n in nodes)
    assert estimated < 10 * WINDOW_ROWS, nodes
