"""Where a full load's CPU goes, with one runner, with several sharing its backfill, and psql.

    python -m tools.bench.runners ROWS REPEATS [MEASURE...]

Each MEASURE is ``psql`` (the binary COPY pipe), or a number of tablesync
runners (``copy`` driver processes started at once on one backfill), from this
tree or, written ``TREE:COUNT``, from another checkout (byte-compiled first);
default ``psql 1 2``. The measures run in turn, reversed every other round, on the same
seeded rows of a throwaway server (tools/bench/ab.py), each load from an empty
destination and checked against the source. BENCH_WAITS=1 also samples
pg_stat_activity's wait events of the measured backends every 50 ms.

CPU-seconds are counted, not estimated from wall time, so they hold whatever
else runs on the machine: a runner's (and its children's: psql) from
``wait4``; the server's from ``/proc``: every child of the postmaster is read
every 10 ms and classed by its process title (the database it serves, or its
kind: checkpointer, walwriter, autovacuum...), and the backends that exit are
counted exactly through the postmaster's reaped-children time (``cutime`` +
``cstime``), which the table shows beside the sampled sum. Prints per measure
the medians of wall time and of CPU-seconds per process class, and their sum
over wall time: how many cores the load keeps busy.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tools.bench.ab import seeded_bench
from tools.bench.headline import REPO_ROOT, Bench, compile_tree, driver_module, machine, say
from tools.testdb.embedded_pg import url_for

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
_SAMPLE_S = 0.01
_WAITS_S = 0.05


def _proc_cpu(pid: int) -> tuple[float, float] | None:
    """(utime + stime, cutime + cstime) of ``pid`` in seconds; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)"
    own = (int(fields[11]) + int(fields[12])) * _TICK_S
    reaped = (int(fields[13]) + int(fields[14])) * _TICK_S
    return own, reaped


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _title(pid: int, databases: dict[str, str]) -> str:
    """The class of a postmaster child: ``core`` / ``analytics`` backend, or its kind."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().split()
    except OSError:
        return "gone"
    if not words or words[0] != "postgres:":
        return "starting"  # forked, its title not set yet: read again next time
    for name, role in databases.items():
        if name in words:
            return role
    return " ".join(w for w in words[1:3] if not w.startswith("127.")) or "postgres"


@dataclass
class ServerCpu:
    """The CPU of one server's processes over a measured stretch, read from /proc."""

    postmaster: int
    databases: dict[str, str]  # database name -> role shown
    seen: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (class, cpu)
    before: dict[int, float] = field(default_factory=dict)  # live at the start: their cpu then
    reaped_before: float = 0.0
    own_before: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> threading.Thread:
        got = _proc_cpu(self.postmaster)
        assert got is not None, "the postmaster is gone"
        self.own_before, self.reaped_before = got
        for pid in _children(self.postmaster):
            cpu = _proc_cpu(pid)
            if cpu is not None:
                self.before[pid] = cpu[0]
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        return thread

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._read_all()
            time.sleep(_SAMPLE_S)

    def _read_all(self) -> None:
        for pid in _children(self.postmaster):
            cpu = _proc_cpu(pid)
            if cpu is None:
                continue
            known = self.seen.get(pid, ("starting", 0.0))[0]
            kind = _title(pid, self.databases) if known == "starting" else known
            self.seen[pid] = (kind, cpu[0])

    def stop(self, thread: threading.Thread) -> dict[str, float]:
        """CPU-seconds per class since ``start``; ``server exact`` from the postmaster."""
        time.sleep(0.2)  # the measured backends exit and are reaped
        self._stop.set()
        thread.join()
        self._read_all()
        live = set(_children(self.postmaster))
        got = _proc_cpu(self.postmaster)
        assert got is not None
        per: defaultdict[str, float] = defaultdict(float)
        # Reaped children, and the postmaster's own (tiny); the live ones are added below.
        exact = got[1] - self.reaped_before + got[0] - self.own_before
        for pid, (kind, cpu) in self.seen.items():
            used = cpu - self.before.get(pid, 0.0)
            per[kind] += used
            if pid in live:
                exact += used
        per["server exact"] = exact
        return dict(per)


def _run_drivers(
    bench: Bench, mode: str, count: int, tree: Path = REPO_ROOT
) -> tuple[float, list[float]]:
    """``count`` driver processes of ``mode`` at once; (wall s, CPU-s of each, children in)."""
    env = {**os.environ, "BENCH_CORE_URL": bench.core_url}
    env["BENCH_ANALYTICS_URL"] = bench.analytics_url
    command = [sys.executable, "-m", driver_module(tree), mode, "--table", bench.sources[0].key]
    command += ["--batch-size", str(bench.batch_size)]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(command, env=env, cwd=tree, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
        for _ in range(count)
    ]  # fmt: skip
    cpu: list[float] = []
    for proc in procs:
        assert proc.stdout is not None
        output = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"error: bench_driver {mode} failed:\n{output.decode()}")
        cpu.append(usage.ru_utime + usage.ru_stime)
    return time.perf_counter() - started, cpu


class Waits:
    """pg_stat_activity's wait events of the measured databases' active backends, sampled."""

    def __init__(self, url: str, databases: list[str]) -> None:
        self._url, self._databases = url, databases
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Waits:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        query = (
            "SELECT datname, coalesce(wait_event_type || ':' || wait_event, 'CPU'), query"
            " FROM pg_stat_activity WHERE datname = ANY(%s) AND state = 'active'"
            " AND pid <> pg_backend_pid()"
        )
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stop.is_set():
                for datname, event, text in conn.execute(query, (self._databases,)):
                    self.counts[f"{datname} {event} {str(text)[:40]}"] += 1
                time.sleep(_WAITS_S)


def measure_once(
    bench: Bench, server: ServerCpu, name: str, waits: Counter[str] | None
) -> dict[str, float]:
    """One full load of ``name`` (``psql``, or ``[TREE:]COUNT`` runners) from an empty
    destination."""
    where, _, runners = name.rpartition(":")
    mode, count = ("psql", 1) if name == "psql" else ("copy", int(runners))
    tree = Path(where).resolve() if where else REPO_ROOT
    bench.reset(mode, bench.sources[0])
    thread = server.start()
    if waits is not None:
        # From the postgres database: its backend is not counted as an analytics one.
        with Waits(url_for(bench.analytics_url, "postgres"), list(server.databases)) as sampled:
            wall, cpu = _run_drivers(bench, mode, count, tree)
        waits.update(sampled.counts)
    else:
        wall, cpu = _run_drivers(bench, mode, count, tree)
    per = server.stop(thread)
    bench.check(mode, bench.sources[0])
    per["runner(s)"] = sum(cpu)
    per["wall"] = wall
    return per


def _databases(bench: Bench) -> dict[str, str]:
    names = {}
    for url, role in ((bench.core_url, "core"), (bench.analytics_url, "analytics")):
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT current_database()").fetchone()
            assert row is not None
            names[str(row[0])] = role
    return names


def report(name: str, samples: list[dict[str, float]], rows: int) -> None:
    keys = sorted({k for s in samples for k in s} - {"wall"})
    med = {k: statistics.median(s.get(k, 0.0) for s in samples) for k in [*keys, "wall"]}
    total = med["runner(s)"] + med["server exact"]
    say(
        f"{name}: wall {med['wall']:.2f} s (min {min(s['wall'] for s in samples):.2f});"
        f" CPU-s runner(s) {med['runner(s)']:.2f} + server {med['server exact']:.2f}"
        f" = {total:.2f}, {total / med['wall']:.2f} cores busy;"
        f" {1e6 * total / rows:.2f} CPU-us/row"
    )
    detail = ", ".join(f"{k} {med[k]:.2f}" for k in keys if k not in ("runner(s)", "server exact"))
    say(f"{name}:   server by class (sampled, medians): {detail}")


def main(argv: list[str]) -> int:
    """Run the measures alternating and print their CPU tables; exit 1 on a bad load."""
    rows, repeats = int(argv[0]), int(argv[1])
    names = argv[2:] or ["psql", "1", "2"]
    for tree in {n.rpartition(":")[0] for n in names} - {""}:
        compile_tree(Path(tree).resolve())
    say(f"machine: {machine()}")
    with seeded_bench(rows, repeats) as bench:
        postmaster = _postmaster_pid(bench)
        samples: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        waits: dict[str, Counter[str]] = {n: Counter() for n in names}
        sample_waits = os.environ.get("BENCH_WAITS") == "1"
        for round_ in range(repeats):
            for name in names if round_ % 2 == 0 else names[::-1]:
                server = ServerCpu(postmaster, _databases(bench))
                got = measure_once(bench, server, name, waits[name] if sample_waits else None)
                samples[name].append(got)
                say(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(got.items())))
        say(f"machine: {machine()}")
        for name in names:
            report(name, samples[name], rows)
            for key, n in waits[name].most_common(12):
                say(f"{name}:   wait sample {n:5d}  {key}")
        speed_ups(samples)
    return 0


def speed_ups(samples: dict[str, list[dict[str, float]]]) -> None:
    """Each tree's one runner over its N runners, round by round (the two ran minutes
    apart at most, so a load that changes between rounds hits both), and the median."""
    for name, many in samples.items():
        tree, _, count = name.rpartition(":")
        one = samples.get(f"{tree}:1" if tree else "1")
        if one is None or name == "psql" or count in ("", "1"):
            continue
        ratios = [a["wall"] / b["wall"] for a, b in zip(one, many, strict=True)]
        shown = " ".join(f"{r:.2f}" for r in ratios)
        say(f"{name}: speed-up over one runner, per round {shown}; median"
            f" {statistics.median(ratios):.2f}")  # fmt: skip


def _postmaster_pid(bench: Bench) -> int:
    """The server's postmaster: the parent of a connection's backend."""
    with psycopg.connect(bench.core_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        stat = Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
