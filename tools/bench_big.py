"""What one large value costs a run: a source table of one row whose jsonb holds 20 MB.

The cost is the run's peak RSS above that of a run that finds nothing (the
same process with no rows), for a full load without and with a transform.
Issue 11's target: at most three times the value's size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.bench_data import SOURCES, core_table_sql, rows_sql

if TYPE_CHECKING:
    from tools.bench import Bench

BIG_VALUE_MIB = 20
_FILL = (
    "UPDATE bench_event_big SET attributes = jsonb_build_object('blob',"
    " repeat('x', %(bytes)s::int))"
)


def big_value_cost(bench: Bench, idle_peak_mib: float) -> dict[str, float]:
    """MiB above ``idle_peak_mib`` that a full load of the one-row table peaks at, per mode."""
    source = SOURCES["big"]
    bench.sql(bench.core_url, core_table_sql(source))
    bench.sql(bench.core_url, rows_sql(source, "now()"), {"start": 1, "count": 1})
    bench.sql(bench.core_url, _FILL, {"bytes": BIG_VALUE_MIB * 1024 * 1024})
    cost: dict[str, float] = {}
    for mode in ("copy", "transform"):
        bench.reset(mode, source)
        sample = bench.run(mode, source)
        bench.check(mode, source)
        cost[mode] = sample.peak_rss_kib / 1024 - idle_peak_mib
    return cost


def main(argv: list[str]) -> int:
    """``python -m tools.bench_big [REPEATS]``: the cost per mode, median of REPEATS (3).

    On a throwaway server (tools/bench_ab.py): 1,000 random rows loaded per mode,
    then each round a run that finds nothing (copy, as `make bench` takes it) and
    the one-row table's full loads, each checked against the source.
    """
    import statistics

    from tools.bench import machine, say
    from tools.bench_ab import seeded_bench

    repeats = int(argv[0]) if argv else 3
    with seeded_bench(1_000, repeats) as bench:
        source = bench.sources[0]
        for mode in ("copy", "transform"):
            bench.reset(mode, source)
            bench.run(mode, source)
        costs: dict[str, list[float]] = {"copy": [], "transform": []}
        for _ in range(repeats):
            idle = bench.run("copy", source).peak_rss_kib / 1024  # finds nothing
            for mode, mib in big_value_cost(bench, idle).items():
                costs[mode].append(mib)
            say(f"idle {idle:.1f} MiB; " + ", ".join(f"{m} {c[-1]:.1f}" for m, c in costs.items()))
        say(f"machine: {machine()}")
        for mode, mibs in costs.items():
            cost = statistics.median(mibs)
            verdict = "holds" if cost <= 3 * BIG_VALUE_MIB else "MISSED"
            spread = f"min {min(mibs):.1f}, max {max(mibs):.1f}"
            print(
                f"one {BIG_VALUE_MIB} MB jsonb, {mode}: {cost:.1f} MiB over a run with no rows"
                f" ({spread}; target <= {3 * BIG_VALUE_MIB}) {verdict}"
            )
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
