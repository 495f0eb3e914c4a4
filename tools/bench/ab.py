"""A/B of a tuning lever: the same full load with and without it, alternating, one server.

    python -m tools.bench.ab MODE ROWS REPEATS VARIANT [VARIANT...]

MODE is ``copy`` or ``transform``; each VARIANT is ``NAME=VALUE,...`` of
environment variables for the driver (the lever switches of
tools/bench/driver.py, e.g. ``BENCH_FAST_PATH=0``; ``-`` for none). The
variants run in turn, in reverse order every other round, on the same seeded
rows of a throwaway server in .tablesync/bench-ab-pg; each load is checked
against the source. BENCH_TABLE picks the source table (``random``, the
default, or ``ordered``: tools/bench/data.py). Prints each run, then the
median and spread per variant.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tools.bench.data import SOURCES, SourceTable
from tools.bench.headline import REPO_ROOT, Bench, prepare, say, spread
from tools.testdb.embedded_pg import EmbeddedPostgres

DATA_DIR = REPO_ROOT / ".tablesync" / "bench-ab-pg"


def ab_source() -> SourceTable:
    """The source table of an A/B: BENCH_TABLE, ``random`` by default."""
    return SOURCES[os.environ.get("BENCH_TABLE", "random")]


@contextmanager
def seeded_bench(rows: int, repeats: int) -> Iterator[Bench]:
    """A Bench on a throwaway server in DATA_DIR with ``rows`` seeded; the server stops after."""
    server = EmbeddedPostgres(DATA_DIR)
    server.start()
    try:
        for name in ("tablesync_ab_core", "tablesync_ab_analytics"):
            server.drop_database(name)
            server.create_database(name)
        bench = Bench(
            core_url=server.url_for("tablesync_ab_core"),
            analytics_url=server.url_for("tablesync_ab_analytics"),
            rows=rows,
            repeats=repeats,
            batch_size=10_000,
            sources=[ab_source()],
        )
        prepare(bench.core_url, bench.analytics_url, bench.sources)
        bench.seed(bench.sources[0], rows)
        yield bench
    finally:
        server.stop()


def _variant(text: str) -> dict[str, str]:
    pairs = [kv.split("=", 1) for kv in text.split(",") if kv and kv != "-"]
    return {name: value for name, value in pairs}


def _run(bench: Bench, mode: str, variant: dict[str, str]) -> float:
    saved = dict(os.environ)
    os.environ.update(variant)
    try:
        bench.reset(mode, bench.sources[0])
        sample = bench.run(mode, bench.sources[0])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    bench.check(mode, bench.sources[0])
    return sample.wall_s


def main(argv: list[str]) -> int:
    """Run the A/B and print it; exit 1 if a load differs from the source."""
    mode, rows, repeats = argv[0], int(argv[1]), int(argv[2])
    variants = [_variant(v) for v in argv[3:]]
    with seeded_bench(rows, repeats) as bench:
        walls: list[list[float]] = [[] for _ in variants]
        for round_ in range(repeats):
            order = list(range(len(variants)))
            for i in order if round_ % 2 == 0 else order[::-1]:
                walls[i].append(_run(bench, mode, variants[i]))
                say(f"{variants[i] or 'as is'}: {walls[i][-1]:.2f} s")
        for variant, wall in zip(variants, walls, strict=True):
            print(f"{variant or 'as is'}: median {spread(wall, '.2f')} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
