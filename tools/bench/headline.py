"""`make bench`: tablesync against the raw COPY limit and a hand-written loop, same run.

Sized by BENCH_ROWS (default 1,000,000); BENCH_REPEATS (default 3) runs of each
measure; BENCH_BATCH_SIZE (default services.base.constants.DEFAULT_BATCH_SIZE).
Runs on a throwaway EmbeddedPostgres in .tablesync/bench-pg, or on the
databases of BENCH_CORE_URL and BENCH_ANALYTICS_URL when both are set (never
DATABASE_URL_*: the bench creates, truncates and reloads its tables).

Each measured process is ``python -m tools.bench.driver MODE`` (see there), the
hand-written loop and the bare reference as much as tablesync, from a tree
byte-compiled first (``compile_tree``); its
wall time is taken from spawn to exit and its peak RSS is its own VmHWM. After
every run the destination is compared with the source (count + an
order-independent checksum of every row's text form); a mismatch exits 1.
Targets are reported, never enforced: timing on a shared machine is not a test.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from services.base.constants import DEFAULT_BATCH_SIZE
from tools.bench.big import BIG_VALUE_MIB, big_value_cost, cost_line
from tools.bench.data import (
    ANALYTICS_TABLES_SQL,
    BENCH_SCHEMA,
    DESTINATIONS,
    SOURCES,
    SourceTable,
    checksum_sql,
    core_table_sql,
    rows_sql,
    update_sql,
)
from tools.bench.driver import JOB, definition_name

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / ".tablesync" / "bench-pg"
CORE_DB, ANALYTICS_DB = "tablesync_bench_core", "tablesync_bench_analytics"
# Measure names, shared with tests/test_bench_smoke.py; each line is prefixed by its table.
PSQL = "1. psql binary COPY pipe (the limit)"
RAW = "1p. psycopg binary COPY pipe"
FULL = "2. tablesync full load, no transform"
TRANSFORM = "3. tablesync full load, Python transform"
HAND_FULL = "hand-written loop, full load (reference)"
INCREMENTAL = "4. tablesync incremental (2% moved)"
HAND = "4r. hand-written COPY+upsert loop, same rows"
SHARED = "2s. tablesync full load, two runners sharing it"
IDLE = "5. tablesync run that finds nothing"
BARE = "5r. bare Python: connect both, one query"


@dataclass
class Sample:
    """One measured process."""

    rows: int
    wall_s: float
    peak_rss_kib: int
    workers_peak_rss_kib: int = 0  # the largest transform worker's, 0 without workers


@dataclass
class Measure:
    """Every sample of one line of the table."""

    name: str
    samples: list[Sample] = field(default_factory=list)

    def wall(self) -> list[float]:
        return [s.wall_s for s in self.samples]

    def rate(self) -> list[float]:
        return [s.rows / s.wall_s for s in self.samples]

    def median_wall(self) -> float:
        return statistics.median(self.wall())

    def median_rate(self) -> float:
        return statistics.median(self.rate())

    def peak_rss_mib(self) -> float:
        return max(s.peak_rss_kib for s in self.samples) / 1024

    def workers_peak_rss_mib(self) -> float:
        return max(s.workers_peak_rss_kib for s in self.samples) / 1024


@dataclass
class Bench:
    """The databases under test and what was measured so far."""

    core_url: str
    analytics_url: str
    rows: int
    repeats: int
    batch_size: int
    sources: list[SourceTable] = field(default_factory=lambda: list(SOURCES.values()))
    seeded: dict[str, int] = field(default_factory=dict)
    checks: int = 0
    measures: dict[str, Measure] = field(default_factory=dict)

    @classmethod
    def from_env(cls, core_url: str, analytics_url: str) -> Bench:
        """Sized by BENCH_ROWS, BENCH_REPEATS, BENCH_BATCH_SIZE and BENCH_TABLES."""
        return cls(
            core_url=core_url,
            analytics_url=analytics_url,
            rows=int(os.environ.get("BENCH_ROWS", "1000000")),
            repeats=int(os.environ.get("BENCH_REPEATS", "3")),
            batch_size=batch_size_from_env(),
            sources=chosen_sources(os.environ),
        )

    def sql(self, url: str, query: Any, params: dict[str, Any] | None = None) -> list[Any]:
        with psycopg.connect(url, autocommit=True) as conn:
            plain = isinstance(query, str) and params is None
            cur = conn.execute(query.encode() if plain else query, params)
            return cur.fetchall() if cur.description is not None else []

    def run(self, mode: str, source: SourceTable, *args: str, tree: Path | None = None) -> Sample:
        """Run one driver process (``tree``'s, default this checkout's); its wall time from
        spawn to exit, its own peak RSS."""
        return self.run_together(1, mode, source, *args, tree=tree)

    def run_together(
        self, count: int, mode: str, source: SourceTable, *args: str, tree: Path | None = None
    ) -> Sample:
        """``count`` driver processes at once: wall time from the first spawn to the last
        exit, their rows summed, the largest peak RSS."""
        env = {**os.environ, "BENCH_CORE_URL": self.core_url}
        env["BENCH_ANALYTICS_URL"] = self.analytics_url
        root = tree or REPO_ROOT
        command = [sys.executable, "-m", driver_module(root), mode, "--table", source.key]
        command += ["--batch-size", str(self.batch_size), *args]
        started = time.perf_counter()
        procs = [
            subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for _ in range(count)
        ]  # fmt: skip
        outputs = [proc.communicate() for proc in procs]
        wall_s = time.perf_counter() - started
        samples = []
        for proc, (stdout, stderr) in zip(procs, outputs, strict=True):
            if proc.returncode != 0:
                raise SystemExit(f"error: bench_driver {mode} failed:\n{stdout}{stderr}")
            samples.append(json.loads(stdout.strip().splitlines()[-1]))
        return Sample(
            rows=sum(int(out["rows"]) for out in samples),
            wall_s=wall_s,
            peak_rss_kib=max(int(out["peak_rss_kib"]) for out in samples),
            workers_peak_rss_kib=max(int(out.get("workers_peak_rss_kib", 0)) for out in samples),
        )

    def record(self, source: SourceTable, name: str, sample: Sample) -> Sample:
        key = f"[{source.key}] {name}"
        self.measures.setdefault(key, Measure(key)).samples.append(sample)
        return sample

    def measured(self, source: SourceTable, name: str) -> Measure:
        return self.measures[f"[{source.key}] {name}"]

    # -- data ----------------------------------------------------------------

    def seed(self, source: SourceTable, upto: int) -> None:
        """Grow ``source``'s table to ``upto`` seeded rows."""
        seeded = self.seeded.get(source.key, 0)
        query = rows_sql(source, source.seed_cursor(self.rows))
        self.sql(self.core_url, query, {"start": seeded + 1, "count": upto - seeded})
        self.sql(self.core_url, f'VACUUM ANALYZE "{source.table}"')
        self.seeded[source.key] = upto

    def mutate(self, source: SourceTable, slot: int) -> None:
        """Update 1% of the seeded rows and insert 1% new ones, both with updated_at = now()."""
        table = f'"{source.table}"'
        next_id = int(self.sql(self.core_url, f"SELECT max(id) + 1 FROM {table}")[0][0])
        with psycopg.connect(self.core_url) as conn:
            conn.execute(update_sql(source), {"slot": slot, "seeded": self.seeded[source.key]})
            conn.execute(
                rows_sql(source, "now()"),
                {"start": next_id, "count": max(1, self.rows // 100)},
            )

    def last_position(self, source: SourceTable) -> str:
        row = self.sql(
            self.core_url,
            f"SELECT updated_at::text || ',' || id FROM \"{source.table}\""
            " ORDER BY updated_at DESC, id DESC LIMIT 1",
        )
        return str(row[0][0])

    def reset(self, mode: str, source: SourceTable) -> None:
        """Empty ``mode``'s destination and forget its saved position: a full load again."""
        self.sql(self.analytics_url, f"TRUNCATE {BENCH_SCHEMA}.{DESTINATIONS[mode]}")
        self.sql(
            self.analytics_url,
            "DELETE FROM tablesync.positions WHERE job = %(job)s AND definition = %(name)s",
            {"job": JOB, "name": definition_name(mode, source)},
        )
        self.sql(self.analytics_url, "UPDATE bench.hand_position SET cursor_value = NULL")

    def check(self, mode: str, source: SourceTable) -> None:
        """Destination equals source: same count and checksum of every row, or exit 1."""
        src, dst = checksum_sql(source, mode)
        expected = self.sql(self.core_url, src)[0]
        got = self.sql(self.analytics_url, dst)[0]
        if tuple(expected) != tuple(got):
            raise SystemExit(
                f"error: [{source.key}] {mode}: destination differs from source:"
                f" source (count, checksum) {tuple(expected)}, destination {tuple(got)}"
            )
        self.checks += 1


# -- the measures ---------------------------------------------------------------


def full_loads(
    bench: Bench, source: SourceTable, mode: str, name: str, *, runners: int = 1
) -> None:
    """``repeats`` full loads of ``mode`` from an empty destination, each checked;
    ``runners`` processes at once share each load (a backfill's chunks)."""
    for _ in range(bench.repeats):
        bench.reset(mode, source)
        bench.record(source, name, bench.run_together(runners, mode, source))
        bench.check(mode, source)


def incremental(bench: Bench, source: SourceTable) -> None:
    """1% updated + 1% inserted, then tablesync and the hand-written loop on those rows."""
    bench.reset("hand", source)
    bench.record(source, HAND_FULL, bench.run("hand", source))
    bench.check("hand", source)
    for slot in range(small_repeats(bench)):
        after = bench.last_position(source)  # both destinations hold everything up to here
        bench.mutate(source, slot)
        runs: list[tuple[str, Callable[[], Sample]]] = [
            (INCREMENTAL, partial(bench.run, "copy", source)),
            (HAND, partial(bench.run, "hand", source, "--after", after)),
        ]
        # Alternate who goes first, so neither always finds the changed rows cached.
        for name, measured in runs if slot % 2 == 0 else runs[::-1]:
            bench.record(source, name, measured())
        bench.check("copy", source)
        bench.check("hand", source)


def nothing_new(bench: Bench, source: SourceTable) -> None:
    """A run that finds nothing, against a process that connects to both DBs and runs one query."""
    for _ in range(small_repeats(bench)):
        bench.record(source, IDLE, bench.run("copy", source))
        bench.record(source, BARE, bench.run("bare", source))
    bench.check("copy", source)


def small_repeats(bench: Bench) -> int:
    """Runs of measures 4 and 5: at least 5, because they take well under a second
    each and their medians are what moves most from one bench to the next."""
    return max(bench.repeats, 5)


def small_size_rss(bench: Bench, source: SourceTable) -> dict[str, float]:
    """Peak RSS of the full loads at rows/10, before the table grows to full size
    (``workers``: the largest transform worker's)."""
    rss: dict[str, float] = {}
    for mode in ("copy", "transform"):
        bench.reset(mode, source)
        sample = bench.run(mode, source)
        rss[mode] = sample.peak_rss_kib / 1024
        if mode == "transform":
            rss["workers"] = sample.workers_peak_rss_kib / 1024
        bench.check(mode, source)
    return rss


def measure_table(bench: Bench, source: SourceTable) -> None:
    """Every measure of the table on ``source``, in order."""
    say(f"[{source.key}] 1. psql pipe, 1p. psycopg pipe")
    full_loads(bench, source, "psql", PSQL)
    full_loads(bench, source, "raw", RAW)
    say(f"[{source.key}] 2. tablesync full load, no transform")
    full_loads(bench, source, "copy", FULL)
    say(f"[{source.key}] 2s. tablesync full load, two runners sharing one backfill")
    full_loads(bench, source, "copy", SHARED, runners=2)
    say(f"[{source.key}] 3. tablesync full load, Python transform")
    full_loads(bench, source, "transform", TRANSFORM)
    say(f"[{source.key}] 4. incremental")  # the copy destination is in step after measure 2
    incremental(bench, source)
    say(f"[{source.key}] 5. nothing new")
    nothing_new(bench, source)


def measure(bench: Bench) -> dict[str, float]:
    """Every measure of every source table; returns the target table's rows/10 peak RSS."""
    primary = target_source(bench)
    say(f"seeding {bench.rows // 10:,} rows, then full loads for the RSS at rows/10")
    for source in bench.sources:
        bench.seed(source, max(1, bench.rows // 10))
    small = small_size_rss(bench, primary)
    for source in bench.sources:
        say(f"[{source.key}] seeding up to {bench.rows:,} rows")
        bench.seed(source, bench.rows)
        measure_table(bench, source)
    return small


def target_source(bench: Bench) -> SourceTable:
    """The table the targets are read on: the random-order one when it is measured."""
    return next((s for s in bench.sources if s.key == "random"), bench.sources[0])


# -- the report -----------------------------------------------------------------


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def spread(values: list[float], fmt: str) -> str:
    """``median (min-max)`` of ``values``, each formatted with ``fmt``."""
    median = statistics.median(values)
    return f"{median:{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def table(bench: Bench) -> list[str]:
    """The result table, one line a measure, with each figure's ratio to its table's psql pipe."""
    lines = [
        f"{'measure':<58} {'n':>2} {'rows':>9} {'wall s, median (min-max)':>26}"
        f" {'rows/s, median (min-max)':>26} {'peak RSS':>9} {'x psql':>6}",
    ]
    for m in bench.measures.values():
        limit = bench.measures[m.name.split("]")[0] + "] " + PSQL].median_rate()
        lines.append(
            f"{m.name:<58} {len(m.samples):>2} {m.samples[-1].rows:>9,}"
            f" {spread(m.wall(), '.2f'):>26} {spread(m.rate(), ',.0f'):>26}"
            f" {m.peak_rss_mib():>5.1f} MiB {m.median_rate() / limit:>6.2f}"
        )
    return lines


Target = tuple[str, float, str, bool]


def targets(bench: Bench, source: SourceTable, small: dict[str, float]) -> list[Target]:
    """(target, measured ratio or MiB, wanted, holds) for each target of issue 11."""
    m = partial(bench.measured, source)
    limit = m(PSQL).median_rate()
    full, transform = m(FULL), m(TRANSFORM)
    big = {
        "copy": full.peak_rss_mib(),
        "transform": transform.peak_rss_mib(),
        "workers": transform.workers_peak_rss_mib(),
    }
    ratios = {
        "full": full.median_rate() / limit,
        "transform": transform.median_rate() / limit,
        "incremental": m(INCREMENTAL).median_wall() / m(HAND).median_wall(),
        "idle": m(IDLE).median_wall() / m(BARE).median_wall(),
        "shared": full.median_wall() / m(SHARED).median_wall(),
    }
    found = [
        ("full load, no transform: rows/s vs psql", ratios["full"], ">= 0.8", 0.8, True),
        ("full load, transform: rows/s vs psql", ratios["transform"], ">= 0.4", 0.4, True),
        ("two runners sharing: speed-up over one", ratios["shared"], "> 1.0", 1.0, True),
        ("incremental: wall vs hand-written loop", ratios["incremental"], "<= 1.0", 1.0, False),
        ("nothing new: wall vs bare connect+query", ratios["idle"], "<= 2.0", 2.0, False),
        ("peak RSS at full size, MiB (max of all)", max(big.values()), "<= 100", 100.0, False),
    ]
    for mode in ("copy", "transform", "workers"):
        if not small[mode]:  # no worker ran at rows/10: fewer than two batches
            continue
        ratio = big[mode] / small[mode]
        found.append((f"RSS {mode}: full size / size/10", ratio, "<= 1.2", 1.2, False))
    return [
        (name, value, want, value >= bound if at_least else value <= bound)
        for name, value, want, bound, at_least in found
    ]


def report(bench: Bench, small: dict[str, float]) -> bool:
    """Print the table and the targets; True when every target holds."""
    print()
    print(f"BENCH_ROWS={bench.rows:,} repeats={bench.repeats} batch_size={bench.batch_size:,}")
    for line in table(bench):
        print(line)
    primary = target_source(bench)
    print(
        f"[{primary.key}] peak RSS at rows/10: copy {small['copy']:.1f} MiB,"
        f" transform {small['transform']:.1f} MiB,"
        f" its largest transform worker {small['workers']:.1f} MiB"
    )
    transform = bench.measured(primary, TRANSFORM)
    print(
        f"transform workers at full size: the largest peaked at"
        f" {transform.workers_peak_rss_mib():.1f} MiB (RSS counts the pages a fork shares"
        " with the runner, so runner + workers summed overstates their memory)"
    )
    print()
    holds = True
    for name, value, want, ok in targets(bench, primary, small):
        holds = holds and ok
        line = f"target [{primary.key}] {name:<44} {value:>7.2f} {want:<7}"
        print(f"{line} {'holds' if ok else 'MISSED'}")
    print(f"equality: destination equals source after every run ({bench.checks} checks passed)")
    return holds


# -- setup ------------------------------------------------------------------------


def machine() -> str:
    """nproc, memory and load, for the record."""
    mem_kib = 0
    with open("/proc/meminfo", encoding="ascii") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc {os.cpu_count()}, memory {mem_kib / 1024 / 1024:.1f} GiB, load {load}"


def driver_module(root: Path) -> str:
    """The bench driver of the tree at ``root``, to run with ``-m`` there: a tree from before
    the benchmarks moved into tools/bench/ (a before/after of older commits) has its own at
    tools/bench_driver.py."""
    moved = (root / "tools" / "bench" / "driver.py").exists()
    return "tools.bench.driver" if moved else "tools.bench_driver"


def compile_tree(root: Path) -> None:
    """Byte-compile ``root``'s Python, as an installed or once-run deployment has it.

    A measured process that finds no ``__pycache__`` compiles every module it imports
    from source; with PYTHONDONTWRITEBYTECODE set (as in some CI and agent
    environments) it does so on every run, ~30 ms of a tablesync run's ~60 modules
    against the hand loop's two. compileall writes the cache whatever that variable says.
    """
    names = ("services", "jobs", "tools", "run_job.py")
    targets = [name for name in names if (root / name).exists()]
    command = [sys.executable, "-m", "compileall", "-q", *targets]
    subprocess.run(command, check=True, cwd=root, capture_output=True)


def prepare(core_url: str, analytics_url: str, sources: list[SourceTable]) -> None:
    """Core: the bench source tables, empty. Analytics: migrated by dbmate + the bench tables.
    The tree measured is byte-compiled first (``compile_tree``)."""
    from tools.demo.round_trip import dbmate_path

    compile_tree(REPO_ROOT)

    with psycopg.connect(core_url, autocommit=True) as conn:
        for source in sources:
            conn.execute(core_table_sql(source))
    command = [dbmate_path(), "--env", "DATABASE_URL_ANALYTICS", "--no-dump-schema"]
    command += ["--migrations-dir", str(REPO_ROOT / "db" / "migrations"), "up"]
    env = {**os.environ, "DATABASE_URL_ANALYTICS": analytics_url}
    subprocess.run(command, env=env, check=True, cwd=REPO_ROOT, capture_output=True)
    with psycopg.connect(analytics_url, autocommit=True) as conn:
        conn.execute(ANALYTICS_TABLES_SQL.encode())
        conn.execute(b"DELETE FROM tablesync.positions WHERE job = 'bench'")


def server_settings(url: str) -> str:
    names = ["server_version", "shared_buffers", "work_mem", "fsync", "synchronous_commit"]
    names += ["full_page_writes", "max_wal_size"]
    with psycopg.connect(url, autocommit=True) as conn:
        return ", ".join(f"{n}={conn.execute(f'SHOW {n}'.encode()).fetchone()[0]}" for n in names)  # type: ignore[index]


def batch_size_from_env() -> int:
    """BENCH_BATCH_SIZE, else the definitions' default batch size."""
    return int(os.environ.get("BENCH_BATCH_SIZE", str(DEFAULT_BATCH_SIZE)))


def chosen_sources(environ: dict[str, str] | os._Environ[str]) -> list[SourceTable]:
    """BENCH_TABLES (``ordered,random`` by default): the source tables to measure, in order."""
    names = [n.strip() for n in environ.get("BENCH_TABLES", "ordered,random").split(",")]
    unknown = [n for n in names if n not in SOURCES]
    if unknown or not names:
        raise SystemExit(f"error: BENCH_TABLES: unknown {unknown}; known: {sorted(SOURCES)}")
    return [SOURCES[n] for n in names]


def bench_on(core_url: str, analytics_url: str) -> int:
    bench = Bench.from_env(core_url, analytics_url)
    say(f"machine: {machine()}")
    say(f"server: {server_settings(core_url)}")
    prepare(core_url, analytics_url, bench.sources)
    small = measure(bench)
    say("one 20 MB jsonb value")
    idle = bench.measured(target_source(bench), IDLE).peak_rss_mib()
    big = big_value_cost(bench, idle)
    holds = report(bench, small)
    for mode, cost in big.items():
        holds = holds and cost.over_small <= 3 * BIG_VALUE_MIB
        print(cost_line(mode, [cost]))
    print(f"targets: {'all hold' if holds else 'some MISSED (see above)'}; load {machine()}")
    return 0


def on_bench_databases(
    run: Callable[[str, str], int],
    core_db: str = CORE_DB,
    analytics_db: str = ANALYTICS_DB,
    *,
    drop_after: bool = False,
    data_dir: Path = DATA_DIR,
    alter_system: Mapping[str, str] | None = None,
) -> int:
    """``run(core_url, analytics_url)`` on BENCH_*_URL, or on fresh databases of a
    throwaway server in ``data_dir`` (.tablesync/bench-pg), stopped by PID at the end
    (``drop_after``: its databases dropped first, for sizes whose disk is wanted back;
    ``alter_system``: settings set with ALTER SYSTEM, the server restarted to take them)."""
    core_url, analytics_url = (
        os.environ.get("BENCH_CORE_URL"),
        os.environ.get("BENCH_ANALYTICS_URL"),
    )
    if core_url and analytics_url:
        return run(core_url, analytics_url)
    from tools.testdb.embedded_pg import EmbeddedPostgres

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(data_dir)
    server.start()
    try:
        if alter_system:
            with psycopg.connect(server.url, autocommit=True) as conn:
                for name, value in alter_system.items():
                    conn.execute(
                        sql.SQL("ALTER SYSTEM SET {} = {}").format(
                            sql.Identifier(name), sql.Literal(value)
                        )
                    )
            server.restart()
        for name in (core_db, analytics_db):
            server.drop_database(name)
            server.create_database(name)
        code = run(server.url_for(core_db), server.url_for(analytics_db))
        for name in (core_db, analytics_db) if drop_after else ():
            server.drop_database(name)
        return code
    finally:
        server.stop()


def main() -> int:
    """Run the bench on BENCH_*_URL or a throwaway server stopped by PID at the end."""
    return on_bench_databases(bench_on)


if __name__ == "__main__":
    sys.exit(main())
