"""`make bench-scale`: a full load's rows/s and peak RSS at BENCH_ROWS and at ten times that.

Issue 11 wants rows/s at 10M at least 0.9x that at 1M, and peak RSS flat.
Both sizes are measured in one run of this command, on the same throwaway
server (or BENCH_*_URL), each on fresh databases of its own seeded the same
way (the random-order table, ~20 rows a second of cursor at either size):
the psql binary COPY pipe, tablesync without and with a transform. Repeats:
BENCH_REPEATS (default 3) at the small size, BENCH_SCALE_REPEATS (default 1)
at the large one. Each load is checked against its source as `make bench` does.
"""

from __future__ import annotations

import os
import sys

from tools.bench.data import SOURCES
from tools.bench.headline import (
    ANALYTICS_DB,
    CORE_DB,
    FULL,
    PSQL,
    TRANSFORM,
    Bench,
    Measure,
    batch_size_from_env,
    full_loads,
    machine,
    on_bench_databases,
    prepare,
    say,
    spread,
)

MODES = (("psql", PSQL), ("copy", FULL), ("transform", TRANSFORM))
GROWTH = 10


def measure_size(rows: int, repeats: int) -> dict[str, Measure]:
    """The full loads of MODES at ``rows`` rows, on databases of their own."""
    source = SOURCES["random"]
    found: dict[str, Measure] = {}

    def run(core_url: str, analytics_url: str) -> int:
        bench = Bench(
            core_url, analytics_url, rows, repeats, batch_size_from_env(), sources=[source]
        )
        prepare(core_url, analytics_url, bench.sources)
        say(f"seeding {rows:,} rows of [{source.key}]")
        bench.seed(source, rows)
        for mode, name in MODES:
            say(f"{rows:,} rows: {name}")
            full_loads(bench, source, mode, name)
            found[mode] = bench.measured(source, name)
        return 0

    size = f"x{rows}"
    on_bench_databases(
        run, core_db=f"{CORE_DB}_{size}", analytics_db=f"{ANALYTICS_DB}_{size}", drop_after=True
    )
    return found


def main() -> int:
    small_rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    large_rows = small_rows * GROWTH
    say(f"machine: {machine()}")
    small = measure_size(small_rows, int(os.environ.get("BENCH_REPEATS", "3")))
    large = measure_size(large_rows, int(os.environ.get("BENCH_SCALE_REPEATS", "1")))
    print()
    print(f"{'measure':<44} {'rows':>11} {'n':>2} {'rows/s, median (min-max)':>28} {'peak RSS':>9}")
    for rows, measures in ((small_rows, small), (large_rows, large)):
        for mode, name in MODES:
            m = measures[mode]
            print(
                f"{name:<44} {rows:>11,} {len(m.samples):>2} {spread(m.rate(), ',.0f'):>28}"
                f" {m.peak_rss_mib():>5.1f} MiB"
            )
    print()
    for mode, name in MODES[1:]:
        rate = large[mode].median_rate() / small[mode].median_rate()
        vs_psql = large[mode].median_rate() / large["psql"].median_rate()
        rss = large[mode].peak_rss_mib() / small[mode].peak_rss_mib()
        verdict = "holds" if rate >= 0.9 else "MISSED"
        print(
            f"target {name}: rows/s at {large_rows:,} / at {small_rows:,} {rate:>5.2f} >= 0.9"
            f" {verdict}; x psql at {large_rows:,} {vs_psql:.2f}; peak RSS ratio {rss:.2f}"
        )
    psql = large["psql"].median_rate() / small["psql"].median_rate()
    print(f"(the psql pipe itself: rows/s at {large_rows:,} / at {small_rows:,} {psql:.2f})")
    print(f"load {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
