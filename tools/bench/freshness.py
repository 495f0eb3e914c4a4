"""`make bench-freshness`: how fresh ``--follow --every 1s`` keeps analytics under writers.

Four writer threads commit inserts and updates to core ``fresh_event`` continuously (one
transaction in ten held open BENCH_HOLD_S, 1 s, before it commits); a follower
(tools/bench/follower.py, its own process) keeps analytics ``fresh_event`` in step at
``--every`` BENCH_EVERY_S (1 s). An audit trigger on each side records every row version
with its transaction id, and ``track_commit_timestamp`` gives each transaction's commit
time, on one server so on one clock: a version's latency is from its commit in core to
the commit in analytics of that version or a later one of the row.

A version is *held back* when a held-open transaction that started before it was
still open when it committed: the watermark (contract rule 8) makes it wait for that
transaction. Those are reported apart.

Then: the follower's CPU (per cent of one core, from /proc) and RSS while the writers
run, its CPU once they stop (idle), its warm cycle that finds nothing (the cycles'
own durations, from its session row), and warm cycles of BENCH_MOVED_ROWS (20,000)
moved rows beside a hand-written loop (COPY into staging + INSERT ON CONFLICT + a
saved position, on warm connections, timed from its first query) moving the same rows
into a table with the same trigger. Targets are printed with "holds" or "MISSED".

BENCH_FRESHNESS_S (300) is how long the writers run, BENCH_IDLE_S (60) the idle
phase; BENCH_FRESHNESS_SMOKE=1 shrinks everything for a smoke run (about 40 s). On
BENCH_CORE_URL / BENCH_ANALYTICS_URL (a server with track_commit_timestamp on), or a
throwaway server in .tablesync/bench-fresh-pg (BENCH_FRESH_DATA_DIR elsewhere).
"""

from __future__ import annotations

import bisect
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

from tools.bench.headline import (
    REPO_ROOT,
    compile_tree,
    machine,
    on_bench_databases,
    server_settings,
)

DEFAULT_DATA_DIR = REPO_ROOT / ".tablesync" / "bench-fresh-pg"
DATA_DIR = Path(os.environ.get("BENCH_FRESH_DATA_DIR") or DEFAULT_DATA_DIR)
CORE_DB, ANALYTICS_DB = "tablesync_fresh_core", "tablesync_fresh_analytics"
WRITERS = 4
HELD_EVERY = 10  # about one transaction in this many is held open
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Settings:
    """The run's sizes, from the environment."""

    writers_s: float
    idle_s: float
    every_s: float
    hold_s: float
    seed_rows: int
    moved_rows: int
    moved_repeats: int

    @classmethod
    def from_env(cls) -> Settings:
        smoke = os.environ.get("BENCH_FRESHNESS_SMOKE") == "1"
        env = os.environ.get
        return cls(
            writers_s=float(env("BENCH_FRESHNESS_S", "10" if smoke else "300")),
            idle_s=float(env("BENCH_IDLE_S", "5" if smoke else "60")),
            every_s=float(env("BENCH_EVERY_S", "1")),
            hold_s=float(env("BENCH_HOLD_S", "1")),
            seed_rows=int(env("BENCH_SEED_ROWS", "5000" if smoke else "100000")),
            moved_rows=int(env("BENCH_MOVED_ROWS", "2000" if smoke else "20000")),
            moved_repeats=int(env("BENCH_MOVED_REPEATS", "2" if smoke else "5")),
        )


CORE_SQL = """
CREATE TABLE fresh_event (
  id bigserial PRIMARY KEY,
  updated_at timestamptz NOT NULL DEFAULT now(),
  writer integer NOT NULL,
  version integer NOT NULL DEFAULT 1,
  payload text NOT NULL
);
CREATE INDEX fresh_event_cursor ON fresh_event (updated_at, id);
CREATE TABLE fresh_audit (id bigint, version integer, xid xid8 DEFAULT pg_current_xact_id(),
                          started_at timestamptz DEFAULT now());
CREATE FUNCTION fresh_audit() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO fresh_audit (id, version) VALUES (NEW.id, NEW.version); RETURN NULL; END$$;
CREATE TRIGGER fresh_audit AFTER INSERT OR UPDATE ON fresh_event
  FOR EACH ROW EXECUTE FUNCTION fresh_audit();
"""
ANALYTICS_SQL = """
CREATE TABLE {table} (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL,
  writer integer NOT NULL, version integer NOT NULL, payload text NOT NULL);
CREATE TABLE {table}_audit (id bigint, version integer, xid xid8 DEFAULT pg_current_xact_id());
CREATE FUNCTION {table}_audit() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO {table}_audit (id, version) VALUES (NEW.id, NEW.version); RETURN NULL;
  END$$;
CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE ON {table}
  FOR EACH ROW EXECUTE FUNCTION {table}_audit();
CREATE TABLE {table}_position (cursor_value text, cursor_id text);
INSERT INTO {table}_position VALUES ('-infinity', '0');
"""
COMMIT_TS = "pg_xact_commit_timestamp(xid::text::xid)"


def say(line: str) -> None:
    print(line, flush=True)


# -- the servers -----------------------------------------------------------------------


def prepare(core_url: str, analytics_url: str, settings: Settings) -> None:
    """Core: the table, its audit, the seed rows. Analytics: migrated, both destinations."""
    from tools.demo.round_trip import dbmate_path

    compile_tree(REPO_ROOT)
    with psycopg.connect(core_url, autocommit=True) as conn:
        conn.execute(CORE_SQL.encode())
        conn.execute(
            "INSERT INTO fresh_event (writer, payload) SELECT 0, md5(g::text)"
            " FROM generate_series(1, %s) g",
            (settings.seed_rows,),
        )
    command = [dbmate_path(), "--env", "DATABASE_URL_ANALYTICS", "--no-dump-schema"]
    command += ["--migrations-dir", str(REPO_ROOT / "db" / "migrations"), "up"]
    env = {**os.environ, "DATABASE_URL_ANALYTICS": analytics_url}
    subprocess.run(command, env=env, check=True, cwd=REPO_ROOT, capture_output=True)
    with psycopg.connect(analytics_url, autocommit=True) as conn:
        for table in ("fresh_event", "fresh_hand"):
            conn.execute(ANALYTICS_SQL.format(table=table).encode())


def on_fresh_server(run: Callable[[str, str], int]) -> int:
    """``run(core_url, analytics_url)`` on BENCH_*_URL, or on a throwaway server with
    track_commit_timestamp on, stopped by PID at the end."""
    settings = {"track_commit_timestamp": "on"}
    return on_bench_databases(run, CORE_DB, ANALYTICS_DB, data_dir=DATA_DIR, alter_system=settings)


# -- the writers -----------------------------------------------------------------------


@dataclass
class Writers:
    """WRITERS threads inserting and updating until stopped; about one transaction in
    HELD_EVERY of each is held open ``hold_s`` before its commit."""

    url: str
    hold_s: float
    stopping: threading.Event = field(default_factory=threading.Event)
    held: list[int] = field(default_factory=list)  # transaction ids of the held ones
    commits: int = 0
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(1, WRITERS + 1):
            thread = threading.Thread(target=self._write, args=(n,), name=f"writer-{n}")
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def _write(self, n: int) -> None:
        rng = random.Random(n)
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopping.is_set():
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO fresh_event (writer, payload)"
                        " SELECT %s, md5(random()::text) FROM generate_series(1, 3)",
                        (n,),
                    )
                    # Its own rows only: no writer waits on another's row lock.
                    conn.execute(
                        "UPDATE fresh_event SET version = version + 1, updated_at = now()"
                        " WHERE id IN (SELECT id FROM fresh_event WHERE writer = %s"
                        " AND id > (SELECT max(id) - 2000 FROM fresh_event) LIMIT 2 OFFSET %s)",
                        (n, rng.randrange(0, 50)),
                    )
                    # Drawn, not every tenth: writers in step would all hold at once.
                    if rng.random() < 1 / HELD_EVERY:
                        row = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
                        assert row is not None
                        self.held.append(int(row[0]))
                        time.sleep(self.hold_s)
                self.commits += 1
                time.sleep(0.02)


# -- the follower ----------------------------------------------------------------------


@dataclass
class Follower:
    """The follower's process, sampled: CPU seconds and RSS over time."""

    process: subprocess.Popen[bytes]
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (t, cpu_s, rss)

    @classmethod
    def start(cls, core_url: str, analytics_url: str, every_s: float) -> Follower:
        env = {**os.environ, "BENCH_CORE_URL": core_url, "BENCH_ANALYTICS_URL": analytics_url}
        command = [sys.executable, "-m", "tools.bench.follower", str(every_s)]
        return cls(subprocess.Popen(command, env=env, cwd=REPO_ROOT))

    def sample(self) -> tuple[float, float, float]:
        """(monotonic time, CPU seconds so far, RSS in MiB), kept."""
        pid = self.process.pid
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
        rss_kib = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        found = (time.monotonic(), cpu_s, rss_kib / 1024)
        self.samples.append(found)
        return found

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def cpu_percent(first: tuple[float, float, float], last: tuple[float, float, float]) -> float:
    return 100 * (last[1] - first[1]) / max(last[0] - first[0], 1e-9)


def sample_for(follower: Follower, seconds: float) -> list[tuple[float, float, float]]:
    """Samples once a second for ``seconds``."""
    found = [follower.sample()]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(1.0, max(deadline - time.monotonic(), 0)))
        found.append(follower.sample())
    return found


def wait_until(what: str, check: Callable[[], bool], timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"error: timed out waiting for {what}")
        time.sleep(0.2)


def one(url: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query.encode(), params).fetchone()
        return None if row is None else row[0]


def in_step(core_url: str, analytics_url: str, table: str = "fresh_event") -> bool:
    """Both sides hold the same rows at the same versions (count and a sum of versions)."""
    shape = "SELECT count(*)::text || '/' || coalesce(sum(version), 0)::text FROM {}"
    core = one(core_url, shape.format("fresh_event"))
    return bool(core == one(analytics_url, shape.format(table)))


def cycles(analytics_url: str) -> tuple[Any, ...]:
    with psycopg.connect(analytics_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT cycles, last_cycle_at, last_cycle_rows, last_cycle_s"
            " FROM tablesync.follower_sessions ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return tuple(row) if row else (0, None, 0, None)


def idle_cycles(analytics_url: str, seconds: float) -> list[float]:
    """The durations of the cycles that found nothing over ``seconds``, in ms."""
    found: dict[Any, float] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, at, rows, took = cycles(analytics_url)
        if at is not None and rows == 0 and took is not None:
            found[at] = took * 1000
        time.sleep(0.25)
    return list(found.values())


# -- latency ---------------------------------------------------------------------------


@dataclass
class Latencies:
    """Seconds from commit in core to commit in analytics, per row version."""

    free: list[float]
    held_back: list[float]
    missing: int


def latencies(core_url: str, analytics_url: str, held: list[int], before_xid: int) -> Latencies:
    """The writers' row versions (transaction ids below ``before_xid``), each with the
    time it took to reach analytics."""
    with psycopg.connect(core_url, autocommit=True) as conn:
        versions = conn.execute(
            f"SELECT id, version, extract(epoch FROM {COMMIT_TS})::float8,"
            " extract(epoch FROM started_at)::float8, xid::text::bigint FROM fresh_audit"
            " WHERE xid::text::bigint < %s".encode(),
            (before_xid,),
        ).fetchall()
        intervals = conn.execute(
            f"SELECT DISTINCT extract(epoch FROM started_at)::float8,"
            f" extract(epoch FROM {COMMIT_TS})::float8, xid::text::bigint"
            " FROM fresh_audit WHERE xid::text::bigint = ANY(%s)".encode(),
            (held,),
        ).fetchall()
    with psycopg.connect(analytics_url, autocommit=True) as conn:
        arrived = conn.execute(
            f"SELECT id, version, extract(epoch FROM {COMMIT_TS})::float8"
            " FROM fresh_event_audit ORDER BY id, version".encode()
        ).fetchall()
    first_at = _arrivals(arrived)
    holds = sorted((commit, start, xid) for start, commit, xid in intervals)
    commits = [h[0] for h in holds]
    result = Latencies([], [], 0)
    for row_id, version, committed, started, xid in versions:
        at = _arrived(first_at.get(row_id), version)
        if at is None:
            result.missing += 1
            continue
        # Held back: a held transaction began before this version and outlived its commit.
        later = holds[bisect.bisect_right(commits, committed) :]
        blocked = any(start <= started and other != xid for _, start, other in later[:50])
        (result.held_back if blocked else result.free).append(at - committed)
    return result


def _arrivals(rows: list[tuple[int, int, float]]) -> dict[int, tuple[list[int], list[float]]]:
    """Per row id: its versions in order and, for each, the earliest commit in analytics of
    that version or a later one."""
    by_id: dict[int, tuple[list[int], list[float]]] = {}
    for row_id, version, at in rows:
        versions, times = by_id.setdefault(row_id, ([], []))
        versions.append(version)
        times.append(at)
    for _, times in by_id.values():
        for i in range(len(times) - 2, -1, -1):
            times[i] = min(times[i], times[i + 1])
    return by_id


def _arrived(found: tuple[list[int], list[float]] | None, version: int) -> float | None:
    if found is None:
        return None
    versions, times = found
    i = bisect.bisect_left(versions, version)
    return times[i] if i < len(times) else None


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


# -- 20,000 moved rows beside a hand-written loop --------------------------------------


class HandLoop:
    """The hand-written reference on warm connections: batches of COPY into a staging table,
    INSERT ... ON CONFLICT, the position saved in the batch's transaction."""

    def __init__(self, core_url: str, analytics_url: str, batch_size: int) -> None:
        self.core = psycopg.connect(core_url, autocommit=True)
        self.analytics = psycopg.connect(analytics_url, autocommit=True)
        self.analytics.execute(
            "CREATE TEMP TABLE hand_staging (LIKE fresh_hand) ON COMMIT DELETE ROWS"
        )
        columns = "id, updated_at, writer, version, payload"
        self.out = (
            f"COPY (SELECT {columns} FROM fresh_event WHERE (updated_at, id) >"
            f" (%s::timestamptz, %s::bigint) ORDER BY updated_at, id LIMIT {batch_size})"
            " TO STDOUT (FORMAT BINARY)"
        )
        self.into = f"COPY hand_staging ({columns}) FROM STDIN (FORMAT BINARY)"
        self.upsert = (
            f"INSERT INTO fresh_hand ({columns}) SELECT {columns} FROM hand_staging"
            " ON CONFLICT (id) DO UPDATE SET updated_at = EXCLUDED.updated_at,"
            " writer = EXCLUDED.writer, version = EXCLUDED.version, payload = EXCLUDED.payload"
        )

    def run(self) -> int:
        """Move every row past the saved position; returns the rows moved."""
        row = self.analytics.execute("SELECT cursor_value, cursor_id FROM fresh_hand_position")
        after = row.fetchone()
        assert after is not None
        moved = 0
        while True:
            with (
                self.analytics.transaction(),
                self.core.cursor() as reader,
                self.analytics.cursor() as writer,
            ):
                with reader.copy(self.out, after) as out, writer.copy(self.into) as into:
                    for chunk in out:
                        into.write(chunk)
                if writer.rowcount <= 0:
                    return moved
                moved += writer.rowcount
                # Aliased: ORDER BY an output name would sort the text forms ('999' > '2000').
                last = self.analytics.execute(
                    "SELECT updated_at::text AS last_value, id::text AS last_id FROM hand_staging"
                    " ORDER BY updated_at DESC, id DESC LIMIT 1"
                ).fetchone()
                assert last is not None
                self.analytics.execute(self.upsert)
                self.analytics.execute(
                    "UPDATE fresh_hand_position SET cursor_value = %s, cursor_id = %s", last
                )
                after = last

    def close(self) -> None:
        self.core.close()
        self.analytics.close()


def _moved_since(analytics_url: str, cycles_before: int) -> bool:
    """A cycle after ``cycles_before`` moved rows."""
    count, _, rows, _ = cycles(analytics_url)
    return bool(count > cycles_before and rows > 0)


def moved_cycles(
    core_url: str, analytics_url: str, settings: Settings
) -> tuple[list[float], list[float]]:
    """(follower cycle seconds, hand loop seconds) for each round of moved rows."""
    hand = HandLoop(core_url, analytics_url, batch_size=10_000)
    follower_s, hand_s = [], []
    try:
        hand.run()  # catch up, untimed
        for round_no in range(settings.moved_repeats):
            before = cycles(analytics_url)[0]
            first = 1 + round_no * settings.moved_rows
            with psycopg.connect(core_url, autocommit=True) as conn:
                conn.execute(
                    "UPDATE fresh_event SET version = version + 1, updated_at = now()"
                    " WHERE id BETWEEN %s AND %s",
                    (first, first + settings.moved_rows - 1),
                )
            moved_since = partial(_moved_since, analytics_url, before)
            wait_until("the follower's cycle of the moved rows", moved_since)
            _, _, rows, took = cycles(analytics_url)
            if rows != settings.moved_rows:
                raise SystemExit(f"error: the cycle moved {rows} rows, not {settings.moved_rows}")
            follower_s.append(float(took))
            started = time.perf_counter()
            moved = hand.run()
            hand_s.append(time.perf_counter() - started)
            if moved != settings.moved_rows:
                raise SystemExit(f"error: the hand loop moved {moved}, not {settings.moved_rows}")
    finally:
        hand.close()
    return follower_s, hand_s


# -- the run ---------------------------------------------------------------------------


def target(line: str, holds: bool) -> bool:
    say(f"  {line}: {'holds' if holds else 'MISSED'}")
    return holds


def bench_on(core_url: str, analytics_url: str) -> int:
    settings = Settings.from_env()
    say(f"machine: {machine()}")
    say(f"server: {server_settings(core_url)}")
    prepare(core_url, analytics_url, settings)
    say(
        f"settings: --every {settings.every_s:g}s, {WRITERS} writers for {settings.writers_s:g} s"
        f" (about one transaction in {HELD_EVERY} held open {settings.hold_s:g} s), idle"
        f" {settings.idle_s:g} s, {settings.seed_rows:,} seed rows"
    )
    follower = Follower.start(core_url, analytics_url, settings.every_s)
    try:
        wait_until("the first load", lambda: in_step(core_url, analytics_url))
        wait_until("warm cycles", lambda: cycles(analytics_url)[0] >= 5)
        with psycopg.connect(core_url, autocommit=True) as conn:
            conn.execute("TRUNCATE fresh_audit")
        with psycopg.connect(analytics_url, autocommit=True) as conn:
            conn.execute("TRUNCATE fresh_event_audit")
        writers = Writers(core_url, settings.hold_s)
        writers.start()
        try:
            busy = sample_for(follower, settings.writers_s)
        finally:
            writers.stop()
        writers_end = int(one(core_url, "SELECT pg_current_xact_id()::text"))
        wait_until("analytics to catch up", lambda: in_step(core_url, analytics_url))
        idle = [follower.sample()]
        idle_ms = idle_cycles(analytics_url, settings.idle_s)
        idle.append(follower.sample())
        follower_s, hand_s = moved_cycles(core_url, analytics_url, settings)
    finally:
        code = follower.stop()
    found = latencies(core_url, analytics_url, writers.held, writers_end)
    exact = in_step(core_url, analytics_url)
    return report(settings, writers, found, busy, idle, idle_ms, (follower_s, hand_s), code, exact)


def report(
    settings: Settings,
    writers: Writers,
    found: Latencies,
    busy: list[tuple[float, float, float]],
    idle: list[tuple[float, float, float]],
    idle_ms: list[float],
    moved: tuple[list[float], list[float]],
    code: int,
    exact: bool,
) -> int:
    total = len(found.free) + len(found.held_back)
    say(
        f"writers: {writers.commits:,} transactions ({len(writers.held):,} held open),"
        f" {total:,} row versions measured ({len(found.held_back):,} held back by an open"
        f" transaction, reported apart; {found.missing} never arrived)"
    )
    free, held = found.free, found.held_back
    for name, values in (("not held back", free), ("held back", held)):
        p50, p99 = quantile(values, 0.5), quantile(values, 0.99)
        say(
            f"latency, {name}: p50 {p50:.2f} s, p99 {p99:.2f} s,"
            f" max {max(values, default=float('nan')):.2f} s ({len(values):,} versions)"
        )
    warm = busy[min(len(busy) - 1, 30 if settings.writers_s >= 120 else 2) :]
    rss = [s[2] for s in warm]
    busy_cpu, idle_cpu = cpu_percent(busy[0], busy[-1]), cpu_percent(idle[0], idle[-1])
    say(
        f"follower: CPU {busy_cpu:.1f}% of one core while writers ran, {idle_cpu:.2f}% idle;"
        f" RSS {rss[0]:.1f} MiB -> {rss[-1]:.1f} MiB (min {min(rss):.1f}, max {max(rss):.1f})"
        f" after warm-up"
    )
    idle_cycle = statistics.median(idle_ms) if idle_ms else float("nan")
    say(f"warm cycle that finds nothing: median {idle_cycle:.1f} ms ({len(idle_ms)} cycles)")
    follower_s, hand_s = moved
    cycle_s = statistics.median(follower_s)
    ratio = cycle_s / statistics.median(hand_s)
    say(
        f"warm cycle of {settings.moved_rows:,} moved rows: median {cycle_s:.3f} s"
        f" (each {', '.join(f'{s:.3f}' for s in follower_s)}); hand-written loop"
        f" {statistics.median(hand_s):.3f} s (each {', '.join(f'{s:.3f}' for s in hand_s)}):"
        f" {ratio:.2f}x"
    )
    say(f"follower exit {code}; analytics equals core at the end: {'yes' if exact else 'NO'}")
    say("targets:")
    holds = [
        target(f"p50 <= 1.5 s ({quantile(free, 0.5):.2f} s)", quantile(free, 0.5) <= 1.5),
        target(f"p99 <= 3 s ({quantile(free, 0.99):.2f} s)", quantile(free, 0.99) <= 3),
        target(f"idle cycle <= 20 ms ({idle_cycle:.1f} ms)", idle_cycle <= 20),
        target(f"idle CPU <= 2% of a core ({idle_cpu:.2f}%)", idle_cpu <= 2),
        target(f"RSS flat within 5 MiB ({max(rss) - min(rss):.1f} MiB)", max(rss) - min(rss) <= 5),
        target(f"{settings.moved_rows:,}-row cycle <= 1.0x the loop ({ratio:.2f}x)", ratio <= 1.0),
    ]
    say(f"targets: {'all hold' if all(holds) else 'some MISSED (see above)'}; load {machine()}")
    return 0 if code == 0 and exact and not found.missing else 1


def main() -> int:
    return on_fresh_server(bench_on)


if __name__ == "__main__":
    sys.exit(main())
