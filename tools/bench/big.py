"""What one large value costs a run: a source table of one row whose jsonb holds 20 MB.

Per mode (a full load without and with a transform), the cost is the run's peak
RSS above that of the same mode's full load of the same one row holding a 1 KiB
value instead: what the value adds, and nothing the mode costs anyway (a
transform run's own modules and buffers, ~0.3 MiB). Beside it, the figure of
rounds 5-7: the peak above a run that finds nothing (``copy``, no rows).
Issue 11's target: at most three times the value's size.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tools.bench.data import SOURCES, core_table_sql, rows_sql

if TYPE_CHECKING:
    from tools.bench.headline import Bench

BIG_VALUE_MIB = 20
SMALL_VALUE_BYTES = 1024
_FILL = (
    "UPDATE bench_event_big SET attributes = jsonb_build_object('blob',"
    " repeat('x', %(bytes)s::int))"
)


@dataclass(frozen=True)
class ValueCost:
    """MiB the one-row load of the large value peaks at above the same load of a 1 KiB
    value (``over_small``: the value's cost) and above a run that finds nothing."""

    over_small: float
    over_idle: float


def big_value_cost(bench: Bench, idle_peak_mib: float) -> dict[str, ValueCost]:
    """Per mode, what the 20 MB value adds to a full load of the one-row table."""
    source = SOURCES["big"]
    bench.sql(bench.core_url, core_table_sql(source))
    bench.sql(bench.core_url, rows_sql(source, "now()"), {"start": 1, "count": 1})
    small = _one_row_peaks(bench, SMALL_VALUE_BYTES)
    big = _one_row_peaks(bench, BIG_VALUE_MIB * 1024 * 1024)
    return {
        mode: ValueCost(over_small=big[mode] - small[mode], over_idle=big[mode] - idle_peak_mib)
        for mode in big
    }


def _one_row_peaks(bench: Bench, value_bytes: int) -> dict[str, float]:
    """Peak RSS (MiB) of each mode's full load of the one row, its value ``value_bytes``."""
    source = SOURCES["big"]
    bench.sql(bench.core_url, _FILL, {"bytes": value_bytes})
    peaks: dict[str, float] = {}
    for mode in ("copy", "transform"):
        bench.reset(mode, source)
        peaks[mode] = bench.run(mode, source).peak_rss_kib / 1024
        bench.check(mode, source)
    return peaks


def main(argv: list[str]) -> int:
    """``python -m tools.bench.big [REPEATS]``: the cost per mode, median of REPEATS (3).

    On a throwaway server (tools/bench/ab.py): 1,000 random rows loaded per mode,
    then each round a run that finds nothing (copy, as `make bench` takes it) and
    the one-row table's full loads, each checked against the source.
    """
    from tools.bench.ab import seeded_bench
    from tools.bench.headline import machine, say

    repeats = int(argv[0]) if argv else 3
    with seeded_bench(1_000, repeats) as bench:
        source = bench.sources[0]
        for mode in ("copy", "transform"):
            bench.reset(mode, source)
            bench.run(mode, source)
        costs: dict[str, list[ValueCost]] = {"copy": [], "transform": []}
        for _ in range(repeats):
            idle = bench.run("copy", source).peak_rss_kib / 1024  # finds nothing
            for mode, cost in big_value_cost(bench, idle).items():
                costs[mode].append(cost)
            last = (f"{m} {c[-1].over_small:.1f} ({c[-1].over_idle:.1f})" for m, c in costs.items())
            say(f"idle {idle:.1f} MiB; " + ", ".join(last))
        say(f"machine: {machine()}")
        for mode, mode_costs in costs.items():
            print(cost_line(mode, mode_costs))
    return 0


def cost_line(mode: str, costs: list[ValueCost]) -> str:
    """The target's line: the median cost over a 1 KiB value's load, its spread, and the
    median over a run that finds nothing."""
    value = [c.over_small for c in costs]
    cost = statistics.median(value)
    verdict = "holds" if cost <= 3 * BIG_VALUE_MIB else "MISSED"
    idle = statistics.median(c.over_idle for c in costs)
    return (
        f"target one {BIG_VALUE_MIB} MB jsonb, {mode}: MiB over the load of a 1 KiB value"
        f" {cost:.2f} (min {min(value):.2f}, max {max(value):.2f}) <= {3 * BIG_VALUE_MIB}"
        f" {verdict}; over a run with no rows {idle:.2f}"
    )


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
