"""`make bench` at a tiny size: every measure runs, and every run's destination equals its source.

Never timed: speed belongs to BENCHMARKS.md, not to a test on a shared machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbtools import REPO_ROOT, PgServer, unique_db_name

from tools.bench import headline as bench

ROWS = 300
TABLES = ("ordered", "random")
MEASURES = (
    bench.PSQL,
    bench.RAW,
    bench.FULL,
    bench.SHARED,
    bench.TRANSFORM,
    bench.HAND_FULL,
    bench.INCREMENTAL,
    bench.HAND,
    bench.IDLE,
    bench.BARE,
)


@pytest.fixture
def bench_urls(pg_server: PgServer) -> Iterator[tuple[str, str]]:
    """Two empty databases for the bench (it applies its own schema and migrations)."""
    names = unique_db_name("bench_core"), unique_db_name("bench_analytics")
    try:
        yield pg_server.create_database(names[0]), pg_server.create_database(names[1])
    finally:
        for name in names:
            pg_server.drop_database(name)


def run_bench(
    core_url: str, analytics_url: str, tool: str = "tools.bench"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCH_ROWS": str(ROWS), "BENCH_REPEATS": "1"}
    env.update(BENCH_CORE_URL=core_url, BENCH_ANALYTICS_URL=analytics_url)
    return subprocess.run(
        [sys.executable, "-m", tool],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def runs_and_rows(stdout: str, measure: str) -> tuple[int, int]:
    """The n and rows columns of ``measure``'s line in the printed table."""
    line = next(x for x in stdout.splitlines() if x.startswith(measure))
    match = re.match(r"\s+(\d+)\s+([\d,]+)\s", line[len(measure) :])
    assert match is not None, line
    return int(match.group(1)), int(match.group(2).replace(",", ""))


def rows_of(stdout: str, measure: str) -> int:
    """The rows column of ``measure``'s line in the printed table."""
    return runs_and_rows(stdout, measure)[1]


def test_bench_runs_every_measure_and_every_destination_equals_its_source(
    bench_urls: tuple[str, str],
) -> None:
    done = run_bench(*bench_urls)
    assert done.returncode == 0, done.stdout + done.stderr
    for table in TABLES:
        for measure in MEASURES:
            assert f"[{table}] {measure}" in done.stdout
        on = f"[{table}] "
        assert rows_of(done.stdout, on + bench.PSQL) == ROWS
        assert rows_of(done.stdout, on + bench.FULL) == ROWS
        assert rows_of(done.stdout, on + bench.SHARED) == ROWS  # the two runners' rows add up
        assert rows_of(done.stdout, on + bench.TRANSFORM) == ROWS
        # 1% of the rows updated and 1% inserted, read once by each side.
        assert rows_of(done.stdout, on + bench.INCREMENTAL) == 2 * ROWS // 100
        assert rows_of(done.stdout, on + bench.HAND) == 2 * ROWS // 100
        assert rows_of(done.stdout, on + bench.IDLE) == 0
        assert runs_and_rows(done.stdout, on + bench.INCREMENTAL)[0] == 5
    # Per table: psql, psycopg, copy, shared, transform, hand full loads and nothing new
    # (7), and each of the 5 incremental rounds (at least 5 even with BENCH_REPEATS=1)
    # checks both sides (10); plus the 2 loads at rows/10 on the random table and the
    # 4 of the one-row table (copy and transform, holding a 1 KiB then a 20 MB jsonb).
    assert "destination equals source after every run (40 checks passed)" in done.stdout
    assert "target one 20 MB jsonb, transform: MiB over the load of a 1 KiB value" in done.stdout


def test_bench_scale_measures_both_sizes_and_reads_the_ratio(bench_urls: tuple[str, str]) -> None:
    done = run_bench(*bench_urls, tool="tools.bench.scale")
    assert done.returncode == 0, done.stdout + done.stderr
    for rows in (ROWS, ROWS * 10):
        for measure in (bench.PSQL, bench.FULL, bench.TRANSFORM):
            assert re.search(rf"^{re.escape(measure)} +{rows:,} +1 ", done.stdout, re.M), measure
    targets = re.findall(
        r"^target .*: rows/s at [\d,]+ / at [\d,]+ +[\d.]+ >= 0\.9", done.stdout, re.M
    )
    assert len(targets) == 2, done.stdout


def test_explain_window_explains_both_reads(bench_urls: tuple[str, str]) -> None:
    done = run_bench(*bench_urls, tool="tools.bench.explain_window")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "== row comparison alone (before)" in done.stdout
    assert "== select_rows as tablesync composes it now" in done.stdout
    # The keyset read with a tie-breaker of one column and of two: each an index scan.
    for id_field in ("1-column id_field (id)", "2-column id_field (actor_id, film_id)"):
        keyset = done.stdout.split(f"== keyset next batch, {id_field}")[1].split("==")[0]
        assert "Index Scan using" in keyset and "Sort" not in keyset, keyset
    assert done.stdout.count("Execution Time:") == 4


def test_bench_runners_counts_every_process_cpu_and_the_speed_up() -> None:
    command = [sys.executable, "-m", "tools.bench.runners", "2000", "2", "psql", "1", "2"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for measure in ("psql", "1", "2"):
        line = re.search(
            rf"^==> {measure}: wall [\d.]+ s .*CPU-s runner\(s\) ([\d.]+) \+ server ([\d.]+)",
            done.stderr + done.stdout,
            re.M,
        )
        assert line is not None, (measure, done.stderr)
        assert float(line.group(1)) > 0 and float(line.group(2)) > 0, line.group(0)
    assert re.search(
        r"^==> 2: speed-up over one runner, per round [\d.]+ [\d.]+; median",
        done.stderr + done.stdout,
        re.M,
    )


def test_before_after_runs_the_four_measures_of_each_tree_and_checks_every_load(
    tmp_path: Path,
) -> None:
    """The issue's before/after benchmark (tools/bench/before_after.py), here on this
    checkout and a copy of it: each tree's four measures, every load checked."""
    other = tmp_path / "copy"
    shutil.copytree(REPO_ROOT, other, ignore=shutil.ignore_patterns(".*", "site", "__pycache__"))
    command = [sys.executable, "-m", "tools.bench.before_after", "2000", "2", ".", str(other)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for measure in ("full load", "transform load", "incremental", "nothing new"):
        for tree in (REPO_ROOT.name, "copy"):
            found = re.search(
                rf"^{measure} {tree}: median [\d.]+ \([\d.]+-[\d.]+\) s, [\d.]+x ",
                done.stdout,
                re.M,
            )
            assert found is not None, (measure, tree, done.stdout)


def test_bench_select_runs_every_measure_and_every_destination_equals_its_source(
    bench_urls: tuple[str, str],
) -> None:
    from tools.bench import select

    done = run_bench(*bench_urls, tool="tools.bench.select")
    assert done.returncode == 0, done.stdout + done.stderr
    for measure in (select.PSQL, select.FULL, select.TRANSFORM, select.SELECT):
        assert runs_and_rows(done.stdout, f"[random] {measure}") == (1, ROWS)
    # The pipe moves only the rows the where keeps: every 20th has no source_id.
    assert runs_and_rows(done.stdout, f"[random] {select.PSQL_SELECT}") == (1, ROWS - ROWS // 20)
    for measure in (select.INCREMENTAL, select.INCREMENTAL_SELECT):
        assert runs_and_rows(done.stdout, f"[random] {measure}")[0] == 5
    for measure in select.VERIFIES:
        assert runs_and_rows(done.stdout, f"[random] {measure}")[0] == 1
    assert "equality: destination equals source after every run (17 checks passed)" in done.stdout
