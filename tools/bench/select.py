"""`make bench-select`: SQL transforms (issue 23, docs/select.md) beside the psql pipe, the
same rows without a transform and through the Python transform, in one run.

On the random-order table (BENCH_TABLES, default ``random``), BENCH_ROWS rows
(default 1,000,000), BENCH_REPEATS (default 3) runs of each full load and
``--verify``, at least 5 incremental runs, interleaved (each round runs every
mode once, the order turned round each round) so that the machine's load
drifts over all of them alike:

- full loads from an empty destination: the psql binary COPY pipe (the limit),
  the same pipe carrying the select's expressions and where into the select's own
  destination (``psql-select``: an identity column and a second unique index the raw
  table has not, so the select's own limit),
  tablesync without a transform (``copy``), with bench_event_row in Python
  (``transform``) and with it as a ``select`` and a ``where`` (``select``);
- incremental runs after 1% of the rows are updated and 1% inserted (2%
  moved): ``copy`` and ``select``;
- ``--verify`` of ``copy``, ``select`` and ``transform`` on the same rows, once the
  destinations have an index on their read order (``VERIFY_INDEXES``).

Every full load and incremental run is checked (count and checksum of every
row's text form on each side; the select's against what the transform makes
of core's rows); a mismatch exits 1, as does a verify that finds a difference.
Each measured process is ``python -m tools.bench.driver MODE``, wall time from
spawn to exit. Targets are reported, never enforced.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import partial

from tools.bench.data import SOURCES, SourceTable
from tools.bench.headline import (
    Bench,
    Sample,
    machine,
    on_bench_databases,
    prepare,
    say,
    server_settings,
    small_repeats,
    spread,
)

CORE_DB, ANALYTICS_DB = "tablesync_bench_select_core", "tablesync_bench_select_analytics"
PSQL = "1. psql binary COPY pipe (the limit)"
PSQL_SELECT = "1s. psql pipe of the select, into its table"
FULL = "2. full load, no transform"
TRANSFORM = "3. full load, Python transform"
SELECT = "3s. full load, select + where"
INCREMENTAL = "4. incremental (2% moved), no transform"
INCREMENTAL_SELECT = "4s. incremental (2% moved), select + where"
VERIFY = "6. --verify, no transform"
VERIFY_TRANSFORM = "6t. --verify, Python transform"
VERIFY_SELECT = "6s. --verify, select + where"
FULL_LOADS = {
    PSQL: "psql",
    PSQL_SELECT: "psql-select",
    FULL: "copy",
    TRANSFORM: "transform",
    SELECT: "select",
}
# The pipe of the select loads the select's destination and is checked as the select is.
LOADS_AS = {"psql-select": "select"}
VERIFIES = {VERIFY: "copy", VERIFY_TRANSFORM: "transform", VERIFY_SELECT: "select"}


def in_turns(runs: list[tuple[str, Callable[[], Sample]]], turn: int) -> list[str]:
    """Run each of ``runs`` once, in order on even turns and reversed on odd ones."""
    done = []
    for name, measured in runs if turn % 2 == 0 else runs[::-1]:
        measured()
        done.append(name)
    return done


def full_load(bench: Bench, source: SourceTable, name: str, mode: str) -> Sample:
    bench.reset(LOADS_AS.get(mode, mode), source)
    sample = bench.record(source, name, bench.run(mode, source))
    bench.check(LOADS_AS.get(mode, mode), source)
    return sample


def full_loads(bench: Bench, source: SourceTable) -> None:
    """Each full load ``repeats`` times, interleaved."""
    for turn in range(bench.repeats):
        loads: list[tuple[str, Callable[[], Sample]]] = [
            (n, partial(full_load, bench, source, n, m)) for n, m in FULL_LOADS.items()
        ]
        in_turns(loads, turn)
    # The incremental runs start from the select's own position: a load by the pipe,
    # last in a reversed turn, left its destination full but with no position.
    bench.run("select", source)
    bench.check("select", source)


def incremental(bench: Bench, source: SourceTable) -> None:
    """2% of the rows moved, then ``copy`` and ``select`` each bring their destination in
    step (both were full after the full loads)."""
    for slot in range(small_repeats(bench)):
        bench.mutate(source, slot)
        runs: list[tuple[str, Callable[[], Sample]]] = [
            (name, partial(_run, bench, source, name, mode))
            for name, mode in ((INCREMENTAL, "copy"), (INCREMENTAL_SELECT, "select"))
        ]
        in_turns(runs, slot)
        bench.check("copy", source)
        bench.check("select", source)


# The destinations' read order, as --verify's in-place hashes want it (docs/operating.md):
# without it each range's hash in analytics is a sequential scan of the whole table.
# Made after the loads, so that no full load pays for it (make bench's tables have none).
VERIFY_INDEXES = """
CREATE INDEX IF NOT EXISTS event_copy_updated_at_id ON bench.event_copy (updated_at, id);
CREATE INDEX IF NOT EXISTS event_select_updated_at_id ON bench.event_select (updated_at, old_id);
"""


def verifies(bench: Bench, source: SourceTable) -> None:
    """``--verify`` of each definition on rows it holds in step: the transform's destination
    is brought in step first (its last full load predates the incremental runs)."""
    bench.run("transform", source)
    bench.check("transform", source)
    bench.sql(bench.analytics_url, VERIFY_INDEXES)
    for turn in range(bench.repeats):
        runs: list[tuple[str, Callable[[], Sample]]] = [
            (name, partial(_verify, bench, source, name, mode)) for name, mode in VERIFIES.items()
        ]
        in_turns(runs, turn)


def _run(bench: Bench, source: SourceTable, name: str, mode: str) -> Sample:
    return bench.record(source, name, bench.run(mode, source))


def _verify(bench: Bench, source: SourceTable, name: str, mode: str) -> Sample:
    return bench.record(source, name, bench.run(mode, source, "--verify"))


def table(bench: Bench, source: SourceTable) -> list[str]:
    limit = bench.measured(source, PSQL).median_rate()
    lines = [
        f"{'measure':<52} {'n':>2} {'rows':>9} {'wall s, median (min-max)':>26}"
        f" {'rows/s, median (min-max)':>26} {'x psql':>6}"
    ]
    for m in bench.measures.values():
        lines.append(
            f"{m.name:<52} {len(m.samples):>2} {m.samples[-1].rows:>9,}"
            f" {spread(m.wall(), '.2f'):>26} {spread(m.rate(), ',.0f'):>26}"
            f" {m.median_rate() / limit:>6.2f}"
        )
    return lines


def targets(bench: Bench, source: SourceTable) -> list[tuple[str, float, str, bool]]:
    """(target, measured ratio, wanted, holds) for each target of issue 23."""
    m = partial(bench.measured, source)
    limit = m(PSQL).median_rate()
    found = [
        ("full load, select: rows/s vs psql", m(SELECT).median_rate() / limit, ">= 0.8"),
        (
            "incremental, select: wall vs no transform",
            m(INCREMENTAL_SELECT).median_wall() / m(INCREMENTAL).median_wall(),
            "<= 1.1",
        ),
        ("--verify, select: wall vs no transform",
         m(VERIFY_SELECT).median_wall() / m(VERIFY).median_wall(), "<= 1.2"),
    ]  # fmt: skip
    quoted = [
        # Wall, not rows/s: the pipe moves only the rows the where keeps.
        ("full load, select: its own psql pipe's wall / its wall",
         m(PSQL_SELECT).median_wall() / m(SELECT).median_wall(), "(quoted)"),
        ("full load, no transform: rows/s vs psql", m(FULL).median_rate() / limit, "(quoted)"),
        ("full load, Python transform: rows/s vs psql", m(TRANSFORM).median_rate() / limit,
         "(quoted)"),
        ("--verify, Python transform: wall vs no transform",
         m(VERIFY_TRANSFORM).median_wall() / m(VERIFY).median_wall(), "(quoted)"),
    ]  # fmt: skip
    checked = [(n, v, w, _holds(v, w)) for n, v, w in found]
    return checked + [(n, v, w, True) for n, v, w in quoted]


def _holds(value: float, wanted: str) -> bool:
    op, bound = wanted.split()
    return value >= float(bound) if op == ">=" else value <= float(bound)


def report(bench: Bench, source: SourceTable) -> bool:
    print()
    print(f"BENCH_ROWS={bench.rows:,} repeats={bench.repeats} batch_size={bench.batch_size:,}")
    for line in table(bench, source):
        print(line)
    print()
    holds = True
    for name, value, wanted, ok in targets(bench, source):
        holds = holds and ok
        verdict = "" if wanted == "(quoted)" else ("holds" if ok else "MISSED")
        print(f"target [{source.key}] {name:<50} {value:>6.2f} {wanted:<8} {verdict}".rstrip())
    print(f"equality: destination equals source after every run ({bench.checks} checks passed)")
    return holds


def bench_select(core_url: str, analytics_url: str) -> int:
    bench = Bench.from_env(core_url, analytics_url)
    bench.sources = [SOURCES[n] for n in os.environ.get("BENCH_TABLES", "random").split(",")]
    source = bench.sources[0]
    say(f"machine: {machine()}")
    say(f"server: {server_settings(core_url)}")
    prepare(core_url, analytics_url, bench.sources)
    say(f"[{source.key}] seeding {bench.rows:,} rows")
    bench.seed(source, bench.rows)
    say(f"[{source.key}] full loads: psql, psql-select, no transform, Python transform, select")
    full_loads(bench, source)
    say(f"[{source.key}] incremental runs: no transform, select")
    incremental(bench, source)
    say(f"[{source.key}] --verify: no transform, Python transform, select")
    verifies(bench, source)
    holds = report(bench, source)
    print(f"targets: {'all hold' if holds else 'some MISSED (see above)'}; load {machine()}")
    return 0


def main() -> int:
    """Run on BENCH_*_URL or a throwaway server stopped by PID at the end."""
    return on_bench_databases(bench_select, CORE_DB, ANALYTICS_DB)


if __name__ == "__main__":
    sys.exit(main())
