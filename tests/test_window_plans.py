"""A batch window's rows are read through the cursor index, not by scanning the table,
and an incremental batch streams from it in order, with no sort.

The window is a (cursor, id) row comparison, for which the planner has no
statistics: alone, it guessed a third of the table for a 10k-row window and
planned a parallel seq scan and a sort. The predicate also bounds the cursor
by itself (services/store/sql.py ``_cursor_bound``), which it can estimate.
The table's cursor is in random order, as in a table whose rows get updated.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from dbtools import TestDatabases
from definitions import events
from faultkit import create_events
from synctools import sync

from services.base.position import Position, Watermark
from services.store import sql as q
from services.store.preflight import plan_definition
from services.sync.read.keyset import KeysetPrefetcher

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
        lower=Position(value=lower[0], ids=(lower[1],)),
        upper=Position(value=upper[0], ids=(upper[1],)),
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


def test_an_incremental_batch_of_freshly_updated_rows_streams_from_the_cursor_index(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows updated since the last ANALYZE lie past the cursor's histogram: the planner
    guesses a handful of them and, left to itself, plans a bitmap heap scan of the whole
    window and a sort, which sends no row until it ends. The keyset read turns sorts off."""
    create_events(dbs)
    dbs.query_core(
        "INSERT INTO events (at, payload)"
        " SELECT '2026-01-01'::timestamptz + make_interval(secs => (hashint4(g) & 65535) / 4.0),"
        " repeat('x', 200) FROM generate_series(1, 20000) g"
    )
    dbs.query_core("CREATE INDEX ON events (at, id)")
    dbs.query_core("ANALYZE events")
    export = events(batch_size=100)
    sync(dbs, export)
    dbs.query_core("UPDATE events SET at = now(), payload = payload || '+' WHERE id % 50 = 0")
    read_next, read_all = KeysetPrefetcher._read_next, KeysetPrefetcher._read_all
    windows: list[q.Window] = []
    plans: list[list[dict[str, Any]]] = []
    after: list[str] = []

    def explained(self: KeysetPrefetcher, window: q.Window) -> Any:  # on the thread's session
        windows.append(window)
        plans.append(_plan_nodes(self._core, q.next_batch(self._plan, window)))
        return read_next(self, window)

    def then_shown(self: KeysetPrefetcher) -> None:
        read_all(self)
        after.append(str(self._core.execute(b"SHOW enable_sort").fetchone()[0]))  # type: ignore[index]

    monkeypatch.setattr(KeysetPrefetcher, "_read_next", explained)
    monkeypatch.setattr(KeysetPrefetcher, "_read_all", then_shown)
    result = sync(dbs, export)

    assert result.counts.read == 400
    core = dbs.query_core("SELECT id, at::text, payload FROM events ORDER BY id")
    assert (
        dbs.query_analytics("SELECT id, at::text, payload FROM analytics_raw.events ORDER BY id")
        == core
    )
    plan = q.next_batch(
        plan_definition("export-to-pg", "t", export, core=dbs.core(), analytics=dbs.analytics()),
        windows[0],
    )
    # As the planner would have it on a session of its own: the sort this is about.
    assert "Sort" in {n["Node Type"] for n in _plan_nodes(dbs.core(), plan)}
    assert len(plans) == 5  # four full batches of 100, then the read that finds none
    for nodes in plans:
        types = {n["Node Type"] for n in nodes}
        assert "Index Scan" in types and not types & {"Sort", "Bitmap Heap Scan"}, nodes
    assert after == ["on"]  # the pool's next user plans as usual


def _plan_nodes(conn: Any, select: Any) -> list[dict[str, Any]]:
    explained = conn.execute(b"EXPLAIN (FORMAT JSON) " + select.as_bytes(conn)).fetchone()
    return _nodes(json.loads(json.dumps(explained[0]))[0]["Plan"])
