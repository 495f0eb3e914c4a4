"""A/B of a run's fixed cost: the same runs from several source trees, alternating, one server.

    python -m tools.bench.fixed ROWS REPEATS TREE_A TREE_B [TREE...]

Each TREE is a checkout of the repository (e.g. ``git archive`` of a commit),
byte-compiled before the first run (tools/bench.compile_tree) unless written
``src:TREE`` (then it runs as found: with PYTHONDONTWRITEBYTECODE set and no
``__pycache__``, every process compiles what it imports). After one full
load of tablesync's and the hand-written loop's destinations, every round runs,
for each tree in turn (reversed every other round): 2% of the rows moved (1%
updated, 1% inserted), then that tree's incremental run and the hand-written
COPY+upsert loop (this tree's tools/bench/driver.py) on the same rows, in
alternating order, then a run that finds nothing and the bare connect-and-query
process. Every process is timed from spawn to exit, as `make bench` does. Each
load is checked against the source. Prints the median and spread of each
measure per tree, and its ratio to the hand loop's and bare's medians of the
same slots. BENCH_BATCH_SIZE sets both loops' batch size (default 10,000).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from tools.bench.ab import seeded_bench
from tools.bench.headline import (
    REPO_ROOT,
    Bench,
    batch_size_from_env,
    compile_tree,
    machine,
    say,
    spread,
)

MEASURES = ("incremental", "hand loop", "nothing new", "bare")


def _run_in(bench: Bench, tree: Path, mode: str, *args: str) -> float:
    """One run of the driver's ``mode`` from ``tree``; its wall time, spawn to exit."""
    return bench.run(mode, bench.sources[0], *args, tree=tree).wall_s


def _round_for(bench: Bench, tree: Path, slot: int, walls: dict[str, list[float]]) -> None:
    """Move 2% of the rows, then ``tree``'s incremental and the hand loop on them (who goes
    first alternates), then a run that finds nothing and bare."""
    source = bench.sources[0]
    after = bench.last_position(source)  # both destinations hold everything up to here
    bench.mutate(source, slot)
    runs = [("incremental", tree, "copy", ()), ("hand loop", REPO_ROOT, "hand", ("--after", after))]
    for measure, where, mode, args in runs if slot % 2 == 0 else runs[::-1]:
        walls[measure].append(_run_in(bench, where, mode, *args))
    bench.check("copy", source)
    bench.check("hand", source)
    walls["nothing new"].append(_run_in(bench, tree, "copy"))
    walls["bare"].append(_run_in(bench, REPO_ROOT, "bare"))


def main(argv: list[str]) -> int:
    """Run the A/B and print it; exit 1 if a load differs from the source."""
    rows, repeats = int(argv[0]), int(argv[1])
    trees = [Path(t.removeprefix("src:")).resolve() for t in argv[2:]]
    for text, tree in zip(argv[2:], trees, strict=True):
        if not text.startswith("src:"):
            compile_tree(tree)
    say(f"machine: {machine()}")
    batch_size = batch_size_from_env()
    with seeded_bench(rows, repeats) as bench:
        bench.batch_size = batch_size
        for mode in ("copy", "hand"):
            bench.reset(mode, bench.sources[0])
            _run_in(bench, trees[0] if mode == "copy" else REPO_ROOT, mode)
        walls: dict[Path, dict[str, list[float]]] = {t: {m: [] for m in MEASURES} for t in trees}
        slot = 0
        for round_ in range(repeats):
            for tree in trees if round_ % 2 == 0 else trees[::-1]:
                _round_for(bench, tree, slot, walls[tree])
                slot += 1
                latest = ", ".join(f"{m} {w[-1]:.3f} s" for m, w in walls[tree].items())
                say(f"{tree.name}: {latest}")
        say(f"machine: {machine()}")
        for tree, per in walls.items():
            for measure, wall in per.items():
                print(f"{measure} {tree.name}: median {spread(wall, '.3f')} s")
            inc = statistics.median(per["incremental"]) / statistics.median(per["hand loop"])
            idle = statistics.median(per["nothing new"]) / statistics.median(per["bare"])
            print(
                f"ratios {tree.name}: incremental / hand loop {inc:.2f},"
                f" nothing new / bare {idle:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
