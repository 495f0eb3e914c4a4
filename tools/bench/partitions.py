"""A partitioned source's backfill beside the same rows in a plain table, side by side.

    python -m tools.bench.partitions [ROWS] [REPEATS]

Seeds the random-order table (``random``, tools/bench/data.py) and the same
rows in a partitioned one (``parts``: ranges of id, one split by hash, and a
default partition: nine leaves) on a throwaway server in
.tablesync/bench-parts-pg, then alternates full loads (tablesync without a
transform) of one, the other, and the partitioned one in cursor order
(TABLESYNC_BACKFILL=off: what its first load was before partitioned sources
were backfilled), each from an empty destination and checked against its
source. Prints the median and spread of each, the ratios, and how many leaves
the partitioned backfill's chunks read.
"""

from __future__ import annotations

import os
import statistics
import sys

from tools.bench.data import SOURCES, SourceTable
from tools.bench.headline import REPO_ROOT, Bench, machine, prepare, say, spread
from tools.testdb.embedded_pg import EmbeddedPostgres

DATA_DIR = REPO_ROOT / ".tablesync" / "bench-parts-pg"
LEAVES_READ = (
    "SELECT count(DISTINCT leaf_oid), count(*) FROM tablesync.backfill_chunks"
    " WHERE job = 'bench' AND definition = 'copy:parts'"
)


def main(argv: list[str]) -> int:
    """Run the comparison and print it; exit 1 if a load differs from its source."""
    rows = int(argv[0]) if argv else 1_000_000
    repeats = int(argv[1]) if len(argv) > 1 else 5
    sources = [SOURCES["random"], SOURCES["parts"]]
    leaves = chunks = 0
    say(f"machine: {machine()}")
    server = EmbeddedPostgres(DATA_DIR)
    server.start()
    try:
        for name in ("tablesync_parts_core", "tablesync_parts_analytics"):
            server.drop_database(name)
            server.create_database(name)
        bench = Bench(
            core_url=server.url_for("tablesync_parts_core"),
            analytics_url=server.url_for("tablesync_parts_analytics"),
            rows=rows,
            repeats=repeats,
            batch_size=10_000,
            sources=sources,
        )
        prepare(bench.core_url, bench.analytics_url, sources)
        for source in sources:
            say(f"seeding {rows:,} rows into {source.table}")
            bench.seed(source, rows)
        walls: dict[str, list[float]] = {name: [] for name, _, _ in MEASURES}
        for round_ in range(repeats):
            for name, key, backfill in MEASURES if round_ % 2 == 0 else MEASURES[::-1]:
                walls[name].append(_load(bench, SOURCES[key], backfill))
                say(f"{name}: {walls[name][-1]:.2f} s")
                if name == PARTITIONED:
                    leaves, chunks = bench.sql(bench.analytics_url, LEAVES_READ)[0]
    finally:
        server.stop()
    medians = {name: statistics.median(wall) for name, wall in walls.items()}
    for name, wall in walls.items():
        print(f"{name}: {spread(wall, '.2f')} s, {rows / medians[name]:,.0f} rows/s")
    plain = medians[PLAIN]
    print(f"partitioned backfill / plain backfill: {medians[PARTITIONED] / plain:.2f}x the time")
    print(f"partitioned in cursor order / plain backfill: {medians[CURSOR_ORDER] / plain:.2f}x")
    print(f"the partitioned backfill read {chunks} chunks over {leaves} leaves")
    return 0


PLAIN, PARTITIONED = "plain table, backfill", "partitioned, backfill"
CURSOR_ORDER = "partitioned, cursor order"
MEASURES = [(PLAIN, "random", True), (PARTITIONED, "parts", True), (CURSOR_ORDER, "parts", False)]


def _load(bench: Bench, source: SourceTable, backfill: bool) -> float:
    """One full load of ``source`` from an empty destination, checked; its wall time."""
    bench.reset("copy", source)
    os.environ["TABLESYNC_BACKFILL"] = "on" if backfill else "off"
    try:
        wall = bench.run("copy", source).wall_s
    finally:
        del os.environ["TABLESYNC_BACKFILL"]
    bench.check("copy", source)
    return wall


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
