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
