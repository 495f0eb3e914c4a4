"""`make bench` at a tiny size: every measure runs, and every run's destination equals its source.

Never timed: speed belongs to BENCHMARKS.md, not to a test on a shared machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from dbtools import REPO_ROOT, PgServer, unique_db_name

ROWS = 300
MEASURES = (
    "1. raw binary COPY pipe (the limit)",
    "2. tablesync full load, no transform",
    "3. tablesync full load, Python transform",
    "hand-written loop, full load (reference)",
    "4. tablesync incremental (2% moved)",
    "4r. hand-written COPY+upsert loop, same rows",
    "5. tablesync run that finds nothing",
    "5r. bare Python: connect both, one query",
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


def run_bench(core_url: str, analytics_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCH_ROWS": str(ROWS), "BENCH_REPEATS": "1"}
    env.update(BENCH_CORE_URL=core_url, BENCH_ANALYTICS_URL=analytics_url)
    return subprocess.run(
        [sys.executable, "-m", "tools.bench"],
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
    for measure in MEASURES:
        assert measure in done.stdout
    assert rows_of(done.stdout, "2. tablesync full load, no transform") == ROWS
    assert rows_of(done.stdout, "3. tablesync full load, Python transform") == ROWS
    # 1% of the rows updated and 1% inserted, read once by each side.
    assert rows_of(done.stdout, "4. tablesync incremental (2% moved)") == 2 * ROWS // 100
    assert rows_of(done.stdout, "4r. hand-written COPY+upsert loop, same rows") == 2 * ROWS // 100
    assert rows_of(done.stdout, "5. tablesync run that finds nothing") == 0
    # 3 full loads + 2 at rows/10 + hand full load + nothing new, and each of the
    # 5 incremental rounds (at least 5 even with BENCH_REPEATS=1) checks both sides.
    assert "destination equals source after every run (17 checks passed)" in done.stdout
    assert runs_and_rows(done.stdout, "4. tablesync incremental (2% moved)")[0] == 5
