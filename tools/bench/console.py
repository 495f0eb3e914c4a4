"""`make bench-console`: the console's overview and /metrics at fleet size, timed.

50 definitions over 50 core tables (2,000 rows each, an index on the cursor), 45 of
them exported up to 20 rows from their end and 5 never exported, and 100,000 run
records (2,000 per definition). The console runs in this process on uvicorn on a free
loopback port; GET / and GET /metrics are each asked BENCH_CONSOLE_REPEATS times
(default 20) over HTTP, and their medians are printed beside the targets (150 ms for a
page, 100 ms for a scrape). The overview's time is then split, in process and side by
side: reading what it shows (views.overview) and drawing it (the template, charts
included). Targets are reported, never enforced.

It also checks, from PostgreSQL's own counters, that those requests never scanned a
core table sequentially and that every read of the run records used an index: the
counters are reset before the requests and read once the console's connections have
closed (a backend flushes its counters when it ends). A scan found there exits 1.
"""

from __future__ import annotations

import http.client
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import uvicorn

from services.base.definition import ExportDefinition, build_definitions
from services.base.settings import DatabaseUrls
from services.console import views
from services.console.app import Console, build_app, make_console
from services.console.catalog import Catalog
from services.console.settings import console_settings
from tools.demo.round_trip import prepare_databases
from tools.testdb.embedded_pg import EmbeddedPostgres

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / ".tablesync" / "bench-console-pg"
JOB = "bench"
DEFINITIONS, ROWS, RUNS_PER_DEFINITION, NEVER_EXPORTED = 50, 2_000, 2_000, 5
TARGETS_MS = {"/": 150.0, "/metrics": 100.0}


def load_core(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for n in range(DEFINITIONS):
            conn.execute(
                f"CREATE TABLE t{n:02d} (id bigint PRIMARY KEY, at timestamptz NOT NULL,"
                f" payload text NOT NULL);"
                f" CREATE INDEX t{n:02d}_at_id ON t{n:02d} (at, id);"
                f" INSERT INTO t{n:02d} SELECT g, now() - (({ROWS} - g) || ' s')::interval,"
                f" 'p' || g FROM generate_series(1, {ROWS}) g"
            )
        conn.execute("VACUUM ANALYZE")


def load_analytics(url: str) -> None:
    """Each definition's destination table (the pages check each definition as a run would
    before writing: without it every one is failing), positions 20 rows short of the end,
    2,000 run records per definition."""
    with psycopg.connect(url, autocommit=True) as conn:
        for n in range(DEFINITIONS):
            conn.execute(
                f"CREATE TABLE analytics_raw.t{n:02d} (id bigint PRIMARY KEY,"
                " at timestamptz NOT NULL, payload text NOT NULL)"
            )
        for n in range(NEVER_EXPORTED, DEFINITIONS):
            conn.execute(
                "INSERT INTO tablesync.positions (job, definition, cursor_value, cursor_id)"
                " VALUES (%s, %s, (now() - interval '20 s')::text, %s)",
                (JOB, f"d{n:02d}", str(ROWS - 20)),
            )
        conn.execute(
            "INSERT INTO tablesync.runs (job, definition, status, started_at, finished_at,"
            " rows_read, rows_created, rows_updated, rows_skipped, cursor_after, host, pid,"
            " command, error_text)"
            " SELECT %s, 'd' || lpad((g %% %s)::text, 2, '0'),"
            " CASE WHEN g %% 17 = 0 THEN 'failed' ELSE 'succeeded' END,"
            " now() - (g || ' min')::interval, now() - (g || ' min')::interval + interval '3 s',"
            " g %% 500, g %% 300, g %% 150, g %% 50, jsonb_build_object('value', now()::text),"
            " 'bench-host', 1, 'python run_job.py bench d00',"
            " CASE WHEN g %% 17 = 0 THEN 'd00: a failure text of some length' END"
            " FROM generate_series(1, %s) g",
            (JOB, DEFINITIONS, DEFINITIONS * RUNS_PER_DEFINITION),
        )
        conn.execute("VACUUM ANALYZE tablesync.runs")


def definitions() -> dict[str, ExportDefinition]:
    return build_definitions(
        {
            f"d{n:02d}": {
                "source": {"table": f"t{n:02d}", "cursor": {"field": "at", "id_field": "id"}},
                "destination": {"table": f"t{n:02d}", "conflict_columns": ["id"]},
            }
            for n in range(DEFINITIONS)
        }
    )


def serve_in_thread(urls: DatabaseUrls) -> tuple[uvicorn.Server, int, Any, Console]:
    settings = console_settings("127.0.0.1", 0, environ={})
    console = make_console(settings, urls, Catalog({JOB: definitions()}), environ={})
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(console), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, port, thread, console


def timed_get(port: int, path: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    took = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise SystemExit(f"error: GET {path} answered {response.status}: {body[:300]!r}")
    return took * 1000


def reset_counters(*urls: str) -> None:
    for url in urls:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_reset()")


def scans(url: str, schema: str) -> list[tuple[str, int, int]]:
    """(table, sequential scans, index scans) of every table in ``schema``."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT relname, coalesce(seq_scan, 0), coalesce(idx_scan, 0)"
            " FROM pg_stat_user_tables WHERE schemaname = %s ORDER BY relname",
            (schema,),
        ).fetchall()


def index_use(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes"
            " WHERE schemaname = 'tablesync' AND relname = 'runs' ORDER BY indexrelname"
        ).fetchall()


def split_overview(console: Console, repeats: int) -> Timings:
    """The overview's data and its drawing, timed apart, one after the other each time."""
    template = console.templates.get_template("overview.html")
    common = {"base": "", "read_only": True, "signed_in": False, "csrf_field": "", "csrf": ""}
    found: dict[str, list[float]] = {"data": [], "page": []}
    for _ in range(repeats):
        started = time.perf_counter()
        shown = views.overview(console.pools, console.catalog, console.settings.max_lag_s)
        drawn = time.perf_counter()
        template.render(definitions=shown, path="/", **common)
        found["data"].append((drawn - started) * 1000)
        found["page"].append((time.perf_counter() - drawn) * 1000)
    return found


Timings = dict[str, list[float]]


def measure(urls: DatabaseUrls, repeats: int) -> tuple[Timings, Timings]:
    server, port, thread, console = serve_in_thread(urls)
    try:
        for path in TARGETS_MS:
            timed_get(port, path)  # warm: pools open, templates compiled
        reset_counters(urls.core, urls.analytics)
        timings = {path: [timed_get(port, path) for _ in range(repeats)] for path in TARGETS_MS}
        return timings, split_overview(console, repeats)
    finally:
        server.should_exit = True
        thread.join(timeout=30)  # the lifespan closes the pools: their counters flush


def report(urls: DatabaseUrls, timings: Timings, split: Timings) -> int:
    print(f"{DEFINITIONS} definitions, {DEFINITIONS * RUNS_PER_DEFINITION:,} run records")
    for path, samples in timings.items():
        median = statistics.median(samples)
        verdict = "ok" if median < TARGETS_MS[path] else "OVER TARGET"
        print(
            f"  GET {path:<9} n={len(samples)} median {median:7.1f} ms"
            f" (min {min(samples):.1f}, max {max(samples):.1f};"
            f" target < {TARGETS_MS[path]:.0f} ms: {verdict})"
        )
    data, page = statistics.median(split["data"]), statistics.median(split["page"])
    print(
        f"  GET / split in process: reading {data:.1f} ms, drawing {page:.1f} ms"
        f" ({page / (data + page):.0%} of it drawing)"
    )
    time.sleep(1.0)
    core = scans(urls.core, "public")
    runs = [row for row in scans(urls.analytics, "tablesync") if row[0] == "runs"]
    print(
        f"  core tables: {sum(s for _, s, _ in core)} sequential scans,"
        f" {sum(i for _, _, i in core)} index scans"
    )
    print(f"  tablesync.runs: {runs[0][1]} sequential scans, {runs[0][2]} index scans by index:")
    for name, count in index_use(urls.analytics):
        print(f"    {name:<40} {count}")
    bad = [t for t, s, _ in core if s] + [t for t, s, _ in runs if s]
    if bad:
        print(f"error: sequential scans of {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    repeats = int(os.environ.get("BENCH_CONSOLE_REPEATS", "20"))
    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(DATA_DIR)
    server.start()
    try:
        core_url, analytics_url = prepare_databases(
            server, "bench_console_core", "bench_console_analytics"
        )
        print("loading 50 core tables and 100,000 run records ...", flush=True)
        load_core(core_url)
        load_analytics(analytics_url)
        urls = DatabaseUrls(core=core_url, analytics=analytics_url)
        return report(urls, *measure(urls, repeats))
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
