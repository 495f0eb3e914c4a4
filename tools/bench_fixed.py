"""A/B of a run's fixed cost: the same runs from two source trees, alternating, one server.

    python -m tools.bench_fixed ROWS REPEATS TREE_A TREE_B

Each TREE is a checkout of the repository (e.g. ``git archive`` of a commit).
After one full load, every round runs, for each tree in turn (reversed every
other round): an incremental run after 2% of the rows moved (1% updated, 1%
inserted), then a run that finds nothing. Each load is checked against the
source. Prints the median and spread of both measures per tree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tools.bench import Bench, say, spread
from tools.bench_ab import seeded_bench


def _run_in(bench: Bench, tree: Path) -> float:
    """One ``copy`` run of the driver from ``tree``; its wall time."""
    import tools.bench as bench_module

    saved = bench_module.REPO_ROOT
    bench_module.REPO_ROOT = tree  # Bench.run spawns the driver in REPO_ROOT
    try:
        return bench.run("copy", bench.sources[0]).wall_s
    finally:
        bench_module.REPO_ROOT = saved


def main(argv: list[str]) -> int:
    """Run the A/B and print it; exit 1 if a load differs from the source."""
    rows, repeats = int(argv[0]), int(argv[1])
    trees = [Path(t).resolve() for t in argv[2:]]
    with seeded_bench(rows, repeats) as bench:
        bench.reset("copy", bench.sources[0])
        _run_in(bench, trees[0])
        walls: dict[str, list[list[float]]] = {"incremental": [], "nothing new": []}
        for measure in walls:
            walls[measure] = [[] for _ in trees]
        slot = 0
        for round_ in range(repeats):
            order = list(range(len(trees)))
            for i in order if round_ % 2 == 0 else order[::-1]:
                bench.mutate(bench.sources[0], slot)
                slot += 1
                walls["incremental"][i].append(_run_in(bench, trees[i]))
                bench.check("copy", bench.sources[0])
                walls["nothing new"][i].append(_run_in(bench, trees[i]))
                say(
                    f"{trees[i].name}: {walls['incremental'][i][-1]:.3f} s,"
                    f" {walls['nothing new'][i][-1]:.3f} s"
                )
        for measure, per_tree in walls.items():
            for tree, wall in zip(trees, per_tree, strict=True):
                print(f"{measure} {tree.name}: median {spread(wall, '.3f')} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
