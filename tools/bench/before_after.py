"""`make bench`'s four tablesync measures from several source trees, alternating, one server.

    python -m tools.bench.before_after ROWS REPEATS TREE [TREE...]

Each TREE is a checkout of the repository (``git archive`` of a commit; a tree from
before tools/bench/ has its own tools/bench_driver.py and is run with it),
byte-compiled first. Every round runs, for each tree in turn (reversed every other
round), on the same seeded rows of BENCH_TABLE (``random`` by default): a full load
(``copy``, an empty destination), a full load through the Python transform, then 2% of
the rows moved (1% updated, 1% inserted) and that tree's incremental run, then a run
that finds nothing. Every process is timed from spawn to exit, as ``make bench`` does,
and every load is checked against the source (a difference exits 1). Prints each
round, then per measure each tree's median and spread and its ratio to the first
tree's median: the before/after of a change, measured side by side.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from tools.bench.ab import seeded_bench
from tools.bench.headline import Bench, compile_tree, machine, say, spread

MEASURES = ("full load", "transform load", "incremental", "nothing new")


def _round_for(bench: Bench, tree: Path, slot: int) -> dict[str, float]:
    """The four measures of ``tree``, each load checked; ``slot`` picks the rows moved."""
    source = bench.sources[0]
    walls: dict[str, float] = {}
    for measure, mode in (("full load", "copy"), ("transform load", "transform")):
        bench.reset(mode, source)
        walls[measure] = bench.run(mode, source, tree=tree).wall_s
        bench.check(mode, source)
    bench.mutate(source, slot)
    walls["incremental"] = bench.run("copy", source, tree=tree).wall_s
    bench.check("copy", source)
    walls["nothing new"] = bench.run("copy", source, tree=tree).wall_s
    return walls


def main(argv: list[str]) -> int:
    """Run every round and print the medians; exit 1 if a load differs from the source."""
    rows, repeats = int(argv[0]), int(argv[1])
    trees = [Path(t).resolve() for t in argv[2:]]
    for tree in trees:
        compile_tree(tree)  # as a deployment has it (tools/bench/headline.compile_tree)
    say(f"machine: {machine()}")
    walls: dict[Path, dict[str, list[float]]] = {t: {m: [] for m in MEASURES} for t in trees}
    with seeded_bench(rows, repeats) as bench:
        slot = 0
        for round_ in range(repeats):
            for tree in trees if round_ % 2 == 0 else trees[::-1]:
                for measure, taken in _round_for(bench, tree, slot).items():
                    walls[tree][measure].append(taken)
                slot += 1
                latest = ", ".join(f"{m} {w[-1]:.3f} s" for m, w in walls[tree].items())
                say(f"round {round_ + 1} {tree.name}: {latest}")
    say(f"machine: {machine()}")
    first = trees[0]
    for measure in MEASURES:
        base = statistics.median(walls[first][measure])
        for tree in trees:
            each = walls[tree][measure]
            ratio = statistics.median(each) / base
            print(
                f"{measure} {tree.name}: median {spread(each, '.3f')} s, {ratio:.3f}x {first.name}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
