"""``make bench-freshness`` runs end to end at smoke size and reports every target.

Not a timing test: it checks that the benchmark measures what it says (every row
version arrives, analytics equals core at the end, the follower exits 0) and prints
each target with "holds" or "MISSED". It starts its own throwaway server, since the
benchmark needs ``track_commit_timestamp`` on.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from dbtools import REPO_ROOT

TARGETS = ("p50 <= 1.5 s", "p99 <= 3 s", "idle cycle <= 20 ms", "idle CPU <= 2% of a core",
           "RSS flat within 5 MiB", "500-row cycle <= 1.0x the loop")  # fmt: skip


def test_the_freshness_benchmark_runs_and_reports_each_target(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BENCH_FRESHNESS_SMOKE": "1",
        "BENCH_FRESHNESS_S": "3",
        "BENCH_IDLE_S": "2",
        "BENCH_SEED_ROWS": "1000",
        "BENCH_MOVED_ROWS": "500",
        "BENCH_MOVED_REPEATS": "1",
        "BENCH_FRESH_DATA_DIR": str(tmp_path / "pg"),
    }
    for name in ("BENCH_CORE_URL", "BENCH_ANALYTICS_URL"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench.freshness"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "; 0 never arrived)" in out
    assert "follower exit 0; analytics equals core at the end: yes" in out
    for name in TARGETS:
        assert re.search(rf"^  {re.escape(name)} \(.*\): (holds|MISSED)$", out, re.MULTILINE), name
    assert re.search(r"^latency, not held back: p50 \d+\.\d\d s", out, re.MULTILINE)
