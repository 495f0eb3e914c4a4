"""`make bench-peers`: Sling and dlt beside tablesync, and the checks that keep a peer honest.

Never timed. The peers are an optional extra (CI does not install it): the bench
must then say in one line which peer did not run, and stop when one is asked for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from dbtools import REPO_ROOT, PgServer, unique_db_name
from psycopg import sql
from test_bench_smoke import rows_of

from tools.bench import headline as bench
from tools.bench import peers as bench_peers
from tools.bench.data import COLUMNS, SOURCES, rows_sql
from tools.bench.peer_runs import PEERS, dlt_dataset, missing

ROWS = 300
RANDOM = SOURCES["random"]


@pytest.fixture
def bench_urls(pg_server: PgServer) -> Iterator[tuple[str, str]]:
    names = unique_db_name("peers_core"), unique_db_name("peers_analytics")
    try:
        yield pg_server.create_database(names[0]), pg_server.create_database(names[1])
    finally:
        for name in names:
            pg_server.drop_database(name)


def test_peer_bench_runs_each_installed_peer_and_names_each_missing_one(
    bench_urls: tuple[str, str],
) -> None:
    env = {**os.environ, "BENCH_ROWS": str(ROWS), "BENCH_REPEATS": "1", "BENCH_TABLES": "random"}
    env.pop("BENCH_PEERS", None)
    env.update(BENCH_CORE_URL=bench_urls[0], BENCH_ANALYTICS_URL=bench_urls[1])
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench.peers"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert rows_of(done.stdout, f"[random] {bench.PSQL}") == ROWS
    assert rows_of(done.stdout, f"[random] {bench.FULL}") == ROWS
    installed = [p for p in PEERS if missing(p) is None]
    for peer in PEERS:
        if peer in installed:
            assert rows_of(done.stdout, "[random] " + bench_peers.PEER_FULL.format(peer)) == ROWS
            moved = rows_of(done.stdout, "[random] " + bench_peers.PEER_INCREMENTAL.format(peer))
            assert moved == 2 * ROWS // 100  # 1% updated + 1% inserted, read once
        else:
            assert f"peer {peer}: not run, {missing(peer)}" in done.stdout
    # psql, tablesync and each peer's full load, then tablesync's and each peer's incremental.
    checks = 3 + 2 * len(installed)
    assert f"destination equals source after every run ({checks} checks passed)" in done.stdout


def test_a_peer_named_in_bench_peers_must_be_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        bench_peers, "missing", lambda p: "dlt is not installed" if p == "dlt" else None
    )
    with pytest.raises(SystemExit, match="peer dlt: not run, dlt is not installed"):
        bench_peers.chosen_peers({"BENCH_PEERS": "sling,dlt"})
    assert bench_peers.chosen_peers({}) == (
        ["sling"],
        ["peer dlt: not run, dlt is not installed (make bench-peers installs it)"],
    )
    with pytest.raises(SystemExit, match="unknown"):
        bench_peers.chosen_peers({"BENCH_PEERS": "airbyte"})


def copy_rows(core_url: str, analytics_url: str, target: sql.Composable) -> None:
    """Every source row into ``target`` (text COPY: types may differ, as a peer's do)."""
    out = sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(RANDOM.table))
    cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    into = sql.SQL("COPY {} ({}) FROM STDIN").format(target, cols)
    with (
        psycopg.connect(core_url) as core,
        psycopg.connect(analytics_url) as analytics,
        core.cursor().copy(out) as source,
        analytics.cursor().copy(into) as sink,
    ):
        for chunk in source:
            sink.write(chunk)


def test_a_peer_that_loses_or_alters_a_row_fails_the_bench(bench_urls: tuple[str, str]) -> None:
    core_url, analytics_url = bench_urls
    run = bench.Bench(core_url, analytics_url, rows=ROWS, repeats=1, batch_size=100)
    bench.prepare(core_url, analytics_url, [RANDOM])  # creates the core table, empty
    run.sql(core_url, rows_sql(RANDOM, RANDOM.seed_cursor(ROWS)), {"start": 1, "count": ROWS})
    # dlt's own types: varchar for text, jsonb read back from text; equal values still match.
    dataset = dlt_dataset(RANDOM)
    dlt_table = sql.Identifier(dataset, RANDOM.table)
    run.sql(analytics_url, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(dataset)))
    run.sql(
        analytics_url,
        sql.SQL("CREATE TABLE {} (id bigint, created_at timestamptz, updated_at timestamptz,"
                " type varchar, source varchar, source_id varchar, amount numeric(38, 9),"
                " host varchar, user_agent varchar, attributes text, is_bot boolean,"
                " _dlt_id varchar)").format(dlt_table),
    )  # fmt: skip
    sling_table = sql.Identifier("bench", "event_sling")
    for target in (sling_table, dlt_table):
        copy_rows(core_url, analytics_url, target)
    for peer in ("sling", "dlt"):
        bench_peers.check_peer(run, peer, RANDOM)
    run.sql(analytics_url, sql.SQL("DELETE FROM {} WHERE id = 7").format(sling_table))
    with pytest.raises(SystemExit, match=r"\[random\] sling: destination differs from source"):
        bench_peers.check_peer(run, "sling", RANDOM)
    # id 20's source_id is NULL: stored as '' (as a CSV load can do), it must not pass.
    run.sql(analytics_url, sql.SQL("UPDATE {} SET source_id = '' WHERE id = 20").format(dlt_table))
    with pytest.raises(SystemExit, match=r"\[random\] dlt: destination differs from source"):
        bench_peers.check_peer(run, "dlt", RANDOM)
