"""A/B of full loads: the same full load from several source trees, alternating, one server.

    python -m tools.bench.trees MODE ROWS REPEATS TREE [TREE...]

MODE is ``copy`` or ``transform``; each TREE is a checkout of the repository
(e.g. ``git archive`` of a commit), byte-compiled first. Every round runs the psql binary COPY
pipe (the limit), then MODE's full load from each tree in turn (reversed
every other round), each checked against the source; then, per tree, what
one 20 MB jsonb value costs MODE (tools/bench/big.py: peak RSS above the same
load of a 1 KiB value, from the same tree). Prints each run, then per tree the
median wall time, its ratio to the psql pipe's median rows/s, its peak RSS and the cost.
BENCH_TABLE picks the source table (tools/bench/ab.py; ``random`` by default).
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

from tools.bench.ab import seeded_bench
from tools.bench.big import big_value_cost
from tools.bench.headline import Bench, Sample, compile_tree, say, spread


def _run_in(bench: Bench, tree: Path | None, mode: str) -> Sample:
    """One full load of ``mode`` by the driver of ``tree`` (None: this one), checked."""
    bench.reset(mode, bench.sources[0])
    sample = bench.run(mode, bench.sources[0], tree=tree)
    bench.check(mode, bench.sources[0])
    return sample


def _big_cost(bench: Bench, tree: Path, mode: str) -> float:
    import tools.bench.headline as bench_module

    saved = bench_module.REPO_ROOT
    bench_module.REPO_ROOT = tree
    try:
        idle = bench.run(mode, bench.sources[0]).peak_rss_kib / 1024  # finds nothing
        return big_value_cost(bench, idle)[mode].over_small
    finally:
        bench_module.REPO_ROOT = saved


def main(argv: list[str]) -> int:
    """Run the A/B and print it; exit 1 if a load differs from the source."""
    mode, rows, repeats = argv[0], int(argv[1]), int(argv[2])
    trees = [Path(t).resolve() for t in argv[3:]]
    for tree in trees:
        compile_tree(tree)  # as a deployment has it (tools/bench.compile_tree)
    with seeded_bench(rows, repeats) as bench:
        psql: list[float] = []
        walls: list[list[float]] = [[] for _ in trees]
        peaks: list[list[float]] = [[] for _ in trees]
        for round_ in range(repeats):
            psql.append(_run_in(bench, None, "psql").wall_s)
            say(f"psql pipe: {psql[-1]:.2f} s, load {os.getloadavg()[0]:.2f}")
            order = list(range(len(trees)))
            for i in order if round_ % 2 == 0 else order[::-1]:
                sample = _run_in(bench, trees[i], mode)
                walls[i].append(sample.wall_s)
                peaks[i].append(sample.peak_rss_kib / 1024)
                say(f"{trees[i].name}: {walls[i][-1]:.2f} s, peak RSS {peaks[i][-1]:.1f} MiB")
        costs = [_big_cost(bench, tree, mode) for tree in trees]
        limit = statistics.median(psql)
        print(f"psql pipe: median {spread(psql, '.2f')} s")
        for tree, wall, peak, cost in zip(trees, walls, peaks, costs, strict=True):
            ratio = limit / statistics.median(wall)
            print(
                f"{mode} {tree.name}: median {spread(wall, '.2f')} s, {ratio:.2f}x psql;"
                f" peak RSS {spread(peak, '.1f')} MiB;"
                f" one 20 MB jsonb {cost:.1f} MiB over a run with no rows"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
