"""`python -m tools.bench.verify`: ``--verify --keys`` against the full ``--verify``, same run.

BENCH_ROWS StatEvents and as many ImportJobs (default 1,000,000 each) are
seeded by tools.testdb.seed_core and synced by the real command line: StatEvent has a
transform that skips 5% of the rows (its key copied unchanged, ``key_source``),
ImportJob none. For each, first with a few rows deleted in core
(BENCH_FEW_DELETED, default 100: the everyday case of a scheduled check), then
with BENCH_DELETED_FRACTION of them (default 0.01) deleted at random, each
round runs ``run_job.py export-to-pg --verify --keys NAME`` and (for the
second case) ``--verify NAME``, in alternating order, BENCH_REPEATS times
(default 3). Wall time is taken from spawn to exit and peak memory is the
child's own (``wait4``'s ru_maxrss); the servers' memory is not counted. Every
run must exit 1 and report exactly the deleted rows as extra, else exit 1.

Runs on a throwaway EmbeddedPostgres in .tablesync/bench-pg, or on
BENCH_CORE_URL and BENCH_ANALYTICS_URL when both are set (never
DATABASE_URL_*: it drops and reloads what it writes to).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from tools.bench.headline import (
    REPO_ROOT,
    machine,
    on_bench_databases,
    say,
    server_settings,
    spread,
)
from tools.testdb.core_schema import apply_core_schema
from tools.testdb.seed_core import seed

CORE_DB, ANALYTICS_DB = "tablesync_bench_verify_core", "tablesync_bench_verify_analytics"
# Each definition's core table and destination key column (its core column is "id").
KEYS = {"StatEvent": ("stat_event", "old_id"), "ImportJob": ("import_job", "id")}


def keys_only(name: str) -> list[str]:
    return ["--verify", "--keys", name]


def full(name: str) -> list[str]:
    return ["--verify", name]


@dataclass
class Runs:
    """Wall seconds and peak RSS (MiB) of each run of one command."""

    wall_s: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)

    def line(self, name: str) -> str:
        return (
            f"{name:<42} wall {spread(self.wall_s, '.2f')} s,"
            f" peak RSS {spread(self.rss_mib, '.0f')} MiB"
        )


def _env(core_url: str, analytics_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    return {**env, "DATABASE_URL_CORE": core_url, "DATABASE_URL_ANALYTICS": analytics_url}


def run_job(env: dict[str, str], args: list[str]) -> tuple[int, str, float, float]:
    """``run_job.py export-to-pg <args>``: (exit code, stdout, wall s, peak RSS MiB)."""
    command = [sys.executable, str(REPO_ROOT / "run_job.py"), "export-to-pg", *args]
    started = time.perf_counter()
    child = subprocess.Popen(
        command,
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    out = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, out, wall, usage.ru_maxrss / 1024


def extra_found(out: str) -> int:
    """The extra rows a ``--json`` verify (either mode) reported."""
    found: dict[str, Any] = json.loads(out)
    return int(found["extra"] if found.get("keys_only") else found["counts"]["extra"])


def measure(env: dict[str, str], args: list[str], deleted: int, runs: Runs) -> None:
    code, out, wall, rss = run_job(env, [*args, "--json"])
    if code != 1 or extra_found(out) != deleted:
        raise SystemExit(f"{' '.join(args)}: exit {code}, expected {deleted} extra: {out[:500]}")
    runs.wall_s.append(wall)
    runs.rss_mib.append(rss)
    say(f"{' '.join(args)}: {wall:.2f} s, {rss:.0f} MiB")


def pick_exported(env: dict[str, str], name: str, rows: int) -> list[str]:
    """``rows`` keys that analytics holds, at random (seeded), as text."""
    table, key = KEYS[name]
    pick = sql.SQL(
        "SELECT {k}::text FROM analytics_raw.{t} ORDER BY hashtext({k}::text || 'bench') LIMIT %s"
    ).format(k=sql.Identifier(key), t=sql.Identifier(table))
    with psycopg.connect(env["DATABASE_URL_ANALYTICS"], autocommit=True) as conn:
        return [r[0] for r in conn.execute(pick, (rows,))]


def delete_in_core(env: dict[str, str], name: str, ids: list[str]) -> int:
    """Delete the rows of ``ids`` in core; how many there were."""
    delete = sql.SQL("DELETE FROM {} WHERE id::text = ANY(%s)").format(sql.Identifier(name))
    with psycopg.connect(env["DATABASE_URL_CORE"], autocommit=True) as conn:
        return conn.execute(delete, (ids,)).rowcount


def prepare(core_url: str, analytics_url: str, rows: int) -> dict[str, str]:
    """Seed core, migrate analytics, sync both definitions once, vacuum (as autovacuum
    would have by the time a scheduled check runs); the environment of the runs."""
    from tools.demo.round_trip import dbmate_path

    apply_core_schema(core_url)
    say(f"seeding {rows:,} StatEvents and {rows:,} ImportJobs")
    seed(core_url, stat_events=rows, import_jobs=rows)
    env = _env(core_url, analytics_url)
    command = [dbmate_path(), "--env", "DATABASE_URL_ANALYTICS", "--no-dump-schema"]
    command += ["--migrations-dir", str(REPO_ROOT / "db" / "migrations"), "up"]
    subprocess.run(command, env=env, check=True, cwd=REPO_ROOT, capture_output=True)
    with psycopg.connect(core_url, autocommit=True) as conn:
        # The seed spaces ImportJobs a minute apart from 2026-01-01: move them all into the
        # past, or a million of them would end after now() and wait beyond the watermark.
        conn.execute(
            'UPDATE "ImportJob" SET "runAt" = "runAt" - interval \'3 years\','
            ' "startedAt" = "startedAt" - interval \'3 years\','
            ' "finishedAt" = "finishedAt" - interval \'3 years\''
        )
    say("syncing StatEvent and ImportJob")
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "run_job.py"), "export-to-pg", *KEYS],
        env=env,
        cwd=REPO_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    for url in (core_url, analytics_url):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    return env


def bench_definition(env: dict[str, str], name: str, settings: dict[str, float]) -> list[str]:
    """The measures of one definition: a few rows deleted (keys only), then a fraction
    (keys only and full, alternating); the result lines."""
    rows, repeats, few = int(settings["rows"]), int(settings["repeats"]), int(settings["few"])
    ids = pick_exported(env, name, max(int(rows * settings["fraction"]), few))
    deleted = delete_in_core(env, name, ids[:few])
    rare = Runs()
    for _ in range(repeats):
        measure(env, keys_only(name), deleted, rare)
    deleted += delete_in_core(env, name, ids[few:])
    keys, whole = Runs(), Runs()
    for round_ in range(repeats):
        pair = [(keys_only(name), keys), (full(name), whole)]
        for args, runs in pair if round_ % 2 == 0 else pair[::-1]:
            measure(env, args, deleted, runs)
    ratio = statistics.median(keys.wall_s) / statistics.median(whole.wall_s)
    return [
        rare.line(f"{name} --verify --keys, {few:,} deleted"),
        keys.line(f"{name} --verify --keys, {deleted:,} deleted"),
        whole.line(f"{name} --verify, {deleted:,} deleted"),
        f"{name}: --verify --keys / --verify wall time {ratio:.3f}x",
    ]


def bench_on(core_url: str, analytics_url: str) -> int:
    settings = {
        "rows": float(os.environ.get("BENCH_ROWS", "1000000")),
        "repeats": float(os.environ.get("BENCH_REPEATS", "3")),
        "few": float(os.environ.get("BENCH_FEW_DELETED", "100")),
        "fraction": float(os.environ.get("BENCH_DELETED_FRACTION", "0.01")),
    }
    say(f"machine: {machine()}")
    say(f"server: {server_settings(core_url)}")
    env = prepare(core_url, analytics_url, int(settings["rows"]))
    lines = [line for name in KEYS for line in bench_definition(env, name, settings)]
    rows, repeats = int(settings["rows"]), int(settings["repeats"])
    print(f"{rows:,} rows each, medians (min-max) of {repeats} runs; load {machine()}")
    print("\n".join(lines))
    return 0


def main() -> int:
    """Run on BENCH_*_URL or a throwaway server stopped by PID at the end."""
    return on_bench_databases(bench_on, CORE_DB, ANALYTICS_DB)


if __name__ == "__main__":
    sys.exit(main())
