"""`make bench-peers`: Sling and dlt beside the psql pipe and tablesync, same tables, same run.

On each source table (BENCH_TABLES, default ``ordered,random``) of BENCH_ROWS
rows (default 1,000,000): BENCH_REPEATS (default 3) rounds of full loads into
an empty destination, each round running the psql binary COPY pipe, tablesync
without transform and every peer one after the other (so a change in the
machine's load hits all of them alike); then BENCH_REPEATS incremental rounds,
each after 2% of the rows moved (tools.bench.headline's mutate), of tablesync and every
peer. After every run the destination must equal the source (count and
checksum of every row), or the bench exits 1: a peer that loses rows must not
look fast. BENCH_PEERS (default ``sling,dlt``) picks the peers; one named there
that is not installed stops the bench before it starts (exit 2), and without
BENCH_PEERS a missing one is reported in one line. Peers' settings: see
tools/bench/peer_runs.py. Same databases as `make bench` (BENCH_*_URL, or a
throwaway server in .tablesync/bench-pg).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from functools import partial

from psycopg import sql

from tools.bench.data import SourceTable, cast_checksum_sql
from tools.bench.headline import (
    FULL,
    INCREMENTAL,
    PSQL,
    Bench,
    machine,
    on_bench_databases,
    prepare,
    say,
    server_settings,
    table,
)
from tools.bench.peer_runs import PEERS, PEERS_DIR, dlt_dataset, missing, version

# Measure names: a peer's full load and incremental run.
PEER_FULL = "peer {}: full load"
PEER_INCREMENTAL = "peer {}: incremental (2% moved)"


def chosen_peers(environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(peers to run, one line for each missing one); exits 2 on a peer BENCH_PEERS
    names that is unknown or not installed."""
    named = environ.get("BENCH_PEERS")
    names = [n.strip() for n in (named or ",".join(PEERS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise SystemExit(f"error: BENCH_PEERS: unknown {unknown}; known: {list(PEERS)}")
    absent = {n: why for n in names if (why := missing(n))}
    lines = [
        f"peer {n}: not run, {why} (make bench-peers installs it)" for n, why in absent.items()
    ]
    if named and absent:
        raise SystemExit("error: " + "\nerror: ".join(lines))
    return [n for n in names if n not in absent], lines


def reset_peer(bench: Bench, peer: str, source: SourceTable) -> None:
    """An empty destination and no saved state: the peer's next run is a full load."""
    if peer == "sling":
        bench.reset("sling", source)  # truncates bench.event_sling
        return
    dataset = dlt_dataset(source)
    for schema in (dataset, f"{dataset}_staging"):
        query = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        bench.sql(bench.analytics_url, query)
    shutil.rmtree(PEERS_DIR / "dlt" / "pipelines" / dataset, ignore_errors=True)


def check_peer(bench: Bench, peer: str, source: SourceTable) -> None:
    """The peer's destination equals the source, or exit 1 (bench.check's test)."""
    if peer == "sling":
        bench.check("sling", source)
        return
    src, dst = cast_checksum_sql(source, dlt_dataset(source), source.table)
    expected, got = bench.sql(bench.core_url, src)[0], bench.sql(bench.analytics_url, dst)[0]
    if tuple(expected) != tuple(got):
        raise SystemExit(
            f"error: [{source.key}] dlt: destination differs from source:"
            f" source (count, checksum) {tuple(expected)}, destination {tuple(got)}"
        )
    bench.checks += 1


def full_loads(bench: Bench, source: SourceTable, peers: list[str]) -> None:
    """Rounds of one full load each: psql pipe, tablesync, then each peer; each checked."""
    for round_no in range(bench.repeats):
        say(f"[{source.key}] full loads, round {round_no + 1} of {bench.repeats}")
        for mode, name in (("psql", PSQL), ("copy", FULL)):
            bench.reset(mode, source)
            bench.record(source, name, bench.run(mode, source))
            bench.check(mode, source)
        for peer in peers:
            reset_peer(bench, peer, source)
            bench.record(source, PEER_FULL.format(peer), bench.run(peer, source))
            check_peer(bench, peer, source)


def incrementals(bench: Bench, source: SourceTable, peers: list[str]) -> None:
    """Rounds of: 2% of rows moved, then tablesync's and each peer's incremental run."""
    for slot in range(bench.repeats):
        say(f"[{source.key}] incremental, round {slot + 1} of {bench.repeats}")
        bench.mutate(source, slot)
        bench.record(source, INCREMENTAL, bench.run("copy", source))
        bench.check("copy", source)
        for peer in peers:
            sample = bench.run(peer, source, "--incremental")
            bench.record(source, PEER_INCREMENTAL.format(peer), sample)
            check_peer(bench, peer, source)


def peers_on(peers: list[str], absent: list[str], core_url: str, analytics_url: str) -> int:
    """Every measure on every source table, then the table."""
    bench = Bench.from_env(core_url, analytics_url)
    say(f"machine: {machine()}")
    say(f"server: {server_settings(core_url)}")
    say("peers: " + ", ".join(f"{p} {version(p)}" for p in peers))
    prepare(core_url, analytics_url, bench.sources)
    for source in bench.sources:
        say(f"[{source.key}] seeding {bench.rows:,} rows")
        bench.seed(source, bench.rows)
        full_loads(bench, source, peers)
        incrementals(bench, source, peers)
    print(f"\nBENCH_ROWS={bench.rows:,} repeats={bench.repeats}")
    for line in [*table(bench), *absent]:
        print(line)
    print(f"equality: destination equals source after every run ({bench.checks} checks passed)")
    print(f"load at the end: {machine()}")
    return 0


def main() -> int:
    """Run the peer bench on BENCH_*_URL or a throwaway server stopped by PID at the end."""
    peers, absent = chosen_peers(os.environ)
    for line in absent:
        say(line)
    return on_bench_databases(partial(peers_on, peers, absent))


if __name__ == "__main__":
    sys.exit(main())
