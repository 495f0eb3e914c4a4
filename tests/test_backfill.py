"""Backfills: a first load (or a reset, or a full-refresh build) read in the heap's order,
in chunks that commit with their rows, shared by any number of runners, and handed
over to the incremental runs without losing a row written meanwhile.

Everything runs through the real command line on the real server. The source
rows carry ~400 bytes each and a cursor drawn at random, so the heap holds a
few dozen blocks and the cursor does not follow them; chunks are two blocks
(TABLESYNC_BACKFILL_CHUNK_PAGES), so a load has a dozen chunks or more.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
from dbtools import CliResult, TestDatabases, finish, run_cli, start_cli, wait_for
from faultkit import (
    EVENTS_ANALYTICS,
    JOB,
    create_events,
    events_in,
    fault_env,
    wait_for_dead_sessions,
)

ROWS = 600
CHUNK_ENV = {"TABLESYNC_BACKFILL_CHUNK_PAGES": "2", "TABLESYNC_TRANSFORM_WORKERS": "0"}
CHUNKS = (
    "SELECT chunk, done_at IS NOT NULL, rows_read, run_id FROM tablesync.backfill_chunks"
    " WHERE definition = %s ORDER BY chunk"
)
# Qualified: a bare "id" would sort by the output column, the id as text.
LAST_CORE_ROW = (
    "SELECT at::text, id::text FROM events ORDER BY events.at DESC, events.id DESC LIMIT 1"
)
POSITION = "SELECT cursor_value, cursor_id FROM tablesync.positions WHERE definition = %s"
RUNS = "SELECT id, status, rows_read FROM tablesync.runs WHERE definition = %s ORDER BY id"
TRANSFORMED_SUMS = "SELECT id, md5(ROW(id, at, payload)::text) FROM analytics_raw.events_t"


class Cli:
    """The real command line on tests/definitions/backfill.py, in the test's tmp dir."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir

    def run(self, *args: str, extra_env: dict[str, str] | None = None) -> CliResult:
        return run_cli(args, {**self.env, **(extra_env or {})}, cwd=self.workdir)

    def sync(self, *names: str, extra_env: dict[str, str] | None = None) -> CliResult:
        return self.run(JOB, *names, extra_env=extra_env)

    def start(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return start_cli(args, {**self.env, **(extra_env or {})}, cwd=self.workdir)


@pytest.fixture
def cli(dbs: TestDatabases, tmp_path: Path) -> Cli:
    create_events(dbs)
    dbs.query_analytics(EVENTS_ANALYTICS.replace("analytics_raw.events", "analytics_raw.events_t"))
    return Cli({**fault_env(dbs, tmp_path, "backfill"), **CHUNK_ENV}, tmp_path)


def fill(dbs: TestDatabases, count: int) -> None:
    """``count`` rows of ~400 bytes whose cursor, in the past, is drawn at random."""
    dbs.query_core(
        "INSERT INTO events (at, payload)"
        " SELECT '2026-01-01'::timestamptz + make_interval(secs => (hashint4(g) & 65535) / 4.0),"
        " g || repeat('x', 400) FROM generate_series(1, %s) g",
        (count,),
    )


def chunks_of(dbs: TestDatabases, name: str = "Events") -> list[tuple[int, bool, int, int | None]]:
    return [(r[0], r[1], r[2], r[3]) for r in dbs.query_analytics(CHUNKS, (name,))]


def assert_exact(dbs: TestDatabases, name: str = "Events") -> None:
    """Analytics equals core row for row, and the position is core's last row."""
    assert events_in(dbs, "analytics") == events_in(dbs, "core")
    position = dbs.query_analytics(POSITION, (name,))
    assert [tuple(r) for r in position] == [tuple(dbs.query_core(LAST_CORE_ROW)[0])]


def test_a_first_load_is_a_backfill_in_heap_order_chunks(dbs: TestDatabases, cli: Cli) -> None:
    fill(dbs, ROWS)

    done = cli.sync("Events", extra_env={"TABLESYNC_PROGRESS_EVERY_S": "0"})

    assert done.code == 0, done.stderr
    assert ", chunks 1/" in done.stderr  # the progress lines count chunks
    chunks = chunks_of(dbs)
    assert len(chunks) >= 10
    assert all(is_done for _, is_done, _, _ in chunks)
    assert sum(rows for _, _, rows, _ in chunks) == ROWS
    assert_exact(dbs)
    assert [r[1:] for r in dbs.query_analytics(RUNS, ("Events",))] == [("succeeded", ROWS)]


def test_a_row_the_destination_refuses_in_a_chunk_is_named(dbs: TestDatabases, cli: Cli) -> None:
    """The chunk that failed is kept as its window (its heap blocks): the rejected COPY line
    is found again in core by its place in those blocks, and named."""
    fill(dbs, ROWS)
    bad = 345
    dbs.query_core("UPDATE events SET payload = repeat('y', 500) WHERE id = %s", (bad,))
    dbs.query_analytics("ALTER TABLE analytics_raw.events ALTER payload TYPE varchar(450)")
    at = dbs.query_core("SELECT at::text FROM events WHERE id = %s", (bad,))[0][0]

    done = cli.sync("Events")

    assert done.code == 1, done.stderr
    assert f"error: Events: row at at={at}, id={bad}: value too long" in done.stderr
    assert any(not is_done for _, is_done, _, _ in chunks_of(dbs))  # its chunk rolled back


def test_a_cursor_that_is_not_a_timestamp_loads_in_cursor_order(
    dbs: TestDatabases, cli: Cli
) -> None:
    fill(dbs, 100)

    assert cli.sync("EventsById").code == 0

    assert chunks_of(dbs, "EventsById") == []
    assert events_in(dbs, "analytics") == events_in(dbs, "core")


def test_a_transform_without_key_source_loads_in_cursor_order(dbs: TestDatabases, cli: Cli) -> None:
    fill(dbs, 100)

    planned = cli.run(JOB, "--dry-run", "EventsTUnkeyed")
    assert planned.code == 0, planned.stderr
    assert "without destination.key_source" in planned.stdout

    assert cli.sync("EventsTUnkeyed").code == 0
    assert chunks_of(dbs, "EventsTUnkeyed") == []
    assert {r[0]: r[1] for r in dbs.query_analytics(TRANSFORMED_SUMS)} == events_in(dbs, "core")


def test_rows_sharing_a_key_load_in_cursor_order_so_the_latest_wins(
    dbs: TestDatabases, cli: Cli
) -> None:
    dbs.query_analytics(
        "CREATE TABLE analytics_raw.payloads (payload text PRIMARY KEY, at timestamptz, id bigint)"
    )
    # The key's latest row first in the heap, an older one of the same key last.
    dbs.query_core("INSERT INTO events (at, payload) VALUES ('2026-06-01', 'shared')")
    fill(dbs, ROWS)
    dbs.query_core("INSERT INTO events (at, payload) VALUES ('2025-06-01', 'shared')")

    done = cli.sync("Payloads")

    assert done.code == 0, done.stderr
    assert chunks_of(dbs, "Payloads") == []
    shared = "SELECT at::date::text, id FROM analytics_raw.payloads WHERE payload = 'shared'"
    assert dbs.query_analytics(shared) == [("2026-06-01", 1)]


def test_rows_with_a_null_cursor_are_counted_and_not_exported(dbs: TestDatabases, cli: Cli) -> None:
    dbs.query_core("ALTER TABLE events ALTER COLUMN at DROP NOT NULL")
    fill(dbs, 200)
    dbs.query_core("UPDATE events SET at = NULL WHERE id % 10 = 0")

    assert cli.sync("Events").code == 0

    exported = dbs.query_analytics("SELECT count(*) FROM analytics_raw.events")[0][0]
    assert exported == 180
    nulls = dbs.query_analytics(
        "SELECT rows_null_cursor FROM tablesync.runs WHERE definition = 'Events'"
    )
    assert nulls == [(20,)]


# -- killed at each phase --------------------------------------------------------

# (definition, phase, n): planning, mid-chunk (a row read, a row written), a chunk's
# commit (marked done, not committed), and the hand-over of the last chunk.
KILLS = [
    ("Events", "plan", 1),
    ("Events", "read", ROWS // 2),
    ("Events", "copy", ROWS // 3),
    ("Events", "chunk_done", 4),
    ("Events", "handover", 1),
    ("EventsT", "transform", ROWS // 2),
    ("EventsT", "chunk_done", 7),
    ("EventsT", "handover", 1),
]


@pytest.mark.parametrize(("name", "phase", "n"), KILLS)
def test_a_backfill_killed_at_any_phase_reruns_exactly(
    dbs: TestDatabases, cli: Cli, name: str, phase: str, n: int
) -> None:
    fill(dbs, ROWS)

    killed = cli.sync(name, extra_env={"TABLESYNC_TEST_KILL_AT": f"{phase}:{n}"})
    assert killed.code == -signal.SIGKILL, f"{phase}:{n} was never reached: {killed.stderr}"
    wait_for_dead_sessions(dbs)
    before = chunks_of(dbs, name)
    left = sum(1 for _, is_done, _, _ in before if not is_done)
    assert dbs.query_analytics(POSITION, (name,)) == []  # not handed over yet

    rerun = cli.sync(name)

    assert rerun.code == 0, rerun.stderr
    after = chunks_of(dbs, name)
    assert all(is_done for _, is_done, _, _ in after)
    assert sum(rows for _, _, rows, _ in after) == ROWS
    # Only the chunks not done were done again, each once: their rows are the rerun's.
    rerun_rows = dbs.query_analytics(RUNS, (name,))[-1][2]
    done_before = sum(rows for _, is_done, rows, _ in before if is_done)
    assert rerun_rows == ROWS - done_before
    assert left == 0 or rerun_rows > 0
    if name == "Events":
        assert_exact(dbs, name)
    else:
        core = events_in(dbs, "core")
        assert {r[0]: r[1] for r in dbs.query_analytics(TRANSFORMED_SUMS)} == core


# -- runners sharing one backfill ------------------------------------------------

SLOW_CHUNKS = {"TABLESYNC_TEST_DELAY": "chunk:0.15"}


def test_three_runners_share_one_backfill_each_chunk_done_once(
    dbs: TestDatabases, cli: Cli
) -> None:
    fill(dbs, ROWS)

    started = [cli.start("export-to-pg", "Events", extra_env=SLOW_CHUNKS) for _ in range(3)]
    outcomes = [finish(proc) for proc in started]

    # A runner that started after the last chunk was taken finds nothing to join: 75.
    assert {o.code for o in outcomes} <= {0, 75} and 0 in {o.code for o in outcomes}, [
        o.stderr for o in outcomes
    ]
    chunks = chunks_of(dbs)
    assert all(is_done for _, is_done, _, _ in chunks)
    runs = dbs.query_analytics(RUNS, ("Events",))
    assert len(runs) >= 2 and {r[1] for r in runs} == {"succeeded"}
    # Each chunk done once: its rows were read by one runner, and the runners' reads add up.
    assert sum(r[2] for r in runs) == ROWS == sum(rows for _, _, rows, _ in chunks)
    doers = {run_id for _, _, _, run_id in chunks}
    assert len(doers) >= 2, f"one runner did every chunk: {doers}"
    assert_exact(dbs)


def test_an_incremental_run_never_overlaps_a_backfill_under_way(
    dbs: TestDatabases, cli: Cli
) -> None:
    fill(dbs, ROWS)
    backfill = cli.start("export-to-pg", "Events", extra_env={"TABLESYNC_TEST_DELAY": "chunk:0.2"})
    _wait_for_chunks(dbs)
    # Meanwhile a helper joins; --reset (which needs the lock alone) is refused.
    reset = cli.run("export-to-pg", "--reset", "--yes", "Events")
    assert reset.code == 75, reset.stdout + reset.stderr
    assert finish(backfill).code == 0
    assert_exact(dbs)


def _wait_for_chunks(dbs: TestDatabases) -> None:
    planned = "SELECT count(*) FROM tablesync.backfill_chunks"
    wait_for("the backfill to be planned", lambda: dbs.query_analytics(planned)[0][0], 30)


def test_a_run_beside_an_incremental_run_exits_75_at_once(dbs: TestDatabases, cli: Cli) -> None:
    fill(dbs, 100)
    assert cli.sync("Events").code == 0
    lock = "SELECT pg_advisory_lock(hashtextextended('tablesync:export-to-pg:Events', 0))"
    with psycopg.connect(dbs.analytics_url, autocommit=True) as holder:
        holder.execute(lock)  # held as an incremental run holds it
        started = time.monotonic()
        beside = cli.sync("Events", extra_env={"TABLESYNC_BACKFILL_JOIN_WAIT_S": "20"})
        assert beside.code == 75, beside.stderr
        assert time.monotonic() - started < 10  # it did not wait to join anything


def test_a_runner_waits_for_a_backfill_being_planned_then_gives_up(
    dbs: TestDatabases, cli: Cli
) -> None:
    fill(dbs, 100)
    lock = "SELECT pg_advisory_lock(hashtextextended('tablesync:export-to-pg:Events', 0))"
    with psycopg.connect(dbs.analytics_url, autocommit=True) as holder:
        holder.execute(lock)  # no position yet: the holder could be planning a backfill
        started = time.monotonic()
        waited = cli.sync("Events", extra_env={"TABLESYNC_BACKFILL_JOIN_WAIT_S": "1.5"})
        assert waited.code == 75, waited.stderr
        assert time.monotonic() - started >= 1.5


# -- writers during a backfill ---------------------------------------------------


def _write_while(dbs: TestDatabases, stop: threading.Event, seed: int) -> None:
    """Insert and update rows (cursor = now()), some transactions held open for seconds."""
    rng = random.Random(seed)
    with psycopg.connect(dbs.core_url, autocommit=True) as conn:
        while not stop.is_set():
            with conn.transaction():
                conn.execute(
                    "INSERT INTO events (payload) SELECT 'w' || g || repeat('y', 300)"
                    " FROM generate_series(1, 5) g"
                )
                ids = rng.sample(range(1, ROWS + 1), 8)
                conn.execute(
                    "UPDATE events SET at = now(), payload = payload || '+' WHERE id = ANY(%s)",
                    (ids,),
                )
                time.sleep(rng.choice([0.0, 0.05, 0.3, 1.0, 2.0]))  # held open


def test_rows_written_during_a_backfill_reach_analytics_through_the_hand_over(
    dbs: TestDatabases, cli: Cli
) -> None:
    fill(dbs, ROWS)
    stop = threading.Event()
    writers = [threading.Thread(target=_write_while, args=(dbs, stop, s)) for s in (1, 2)]
    for writer in writers:
        writer.start()
    try:
        started = [
            cli.start("export-to-pg", "Events", extra_env={"TABLESYNC_TEST_DELAY": "chunk:0.1"})
            for _ in range(2)
        ]
        outcomes: list[CliResult] = [finish(proc) for proc in started]
        codes = {o.code for o in outcomes}  # 75: came after the last chunk was taken
        assert codes <= {0, 75} and 0 in codes, [o.stderr for o in outcomes]
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert all(is_done for _, is_done, _, _ in chunks_of(dbs))
    # The incremental runs after it read whatever the backfill may have missed or read old.
    catch_up = cli.sync("Events")
    assert catch_up.code == 0, catch_up.stderr
    assert_exact(dbs)


# -- what operators see, and the operations that reload ----------------------------


def test_dry_run_shows_the_chunk_plan(dbs: TestDatabases, cli: Cli) -> None:
    fill(dbs, ROWS)

    shown = cli.run("export-to-pg", "--dry-run", "Events")
    as_json = cli.run("export-to-pg", "--dry-run", "--json", "Events")

    assert shown.code == 0, shown.stderr
    assert "backfill (a full load in heap order):" in shown.stdout
    plan = json.loads(as_json.stdout)
    backfill = (plan[0] if isinstance(plan, list) else plan)["backfill"]
    assert backfill["chunk_blocks"] == 2 and backfill["chunks_total"] >= 10
    assert chunks_of(dbs) == []  # a dry run writes nothing


def test_a_reset_reloads_through_a_new_backfill(dbs: TestDatabases, cli: Cli) -> None:
    fill(dbs, ROWS)
    assert cli.sync("Events").code == 0
    dbs.query_analytics("UPDATE analytics_raw.events SET payload = 'stale'")

    assert cli.run("export-to-pg", "--reset", "--yes", "Events").code == 0
    assert chunks_of(dbs) == []  # the old plan is gone with the position
    assert cli.sync("Events").code == 0

    assert all(is_done for _, is_done, _, _ in chunks_of(dbs))
    assert_exact(dbs)


def test_a_full_refresh_builds_through_a_backfill(dbs: TestDatabases, cli: Cli) -> None:
    fill(dbs, ROWS)
    assert cli.sync("Events").code == 0

    refreshed = cli.run("export-to-pg", "--full-refresh", "--yes", "Events")

    assert refreshed.code == 0, refreshed.stderr
    build = chunks_of(dbs, "Events (full refresh)")
    assert len(build) >= 10 and all(is_done for _, is_done, _, _ in build)
    assert_exact(dbs)


def test_chunks_feed_the_transform_workers(dbs: TestDatabases, cli: Cli) -> None:
    fill(dbs, ROWS)

    done = cli.run(JOB, "EventsT", "--json", extra_env={"TABLESYNC_TRANSFORM_WORKERS": "2"})

    assert done.code == 0, done.stderr
    (result,) = json.loads(done.stdout)
    assert result["transform_workers"] == 2
    assert result["chunks"]["done"] == result["chunks"]["total"] >= 10
    assert result["chunks"]["rows"] == ROWS
    assert all(is_done for _, is_done, _, _ in chunks_of(dbs, "EventsT"))
    core = events_in(dbs, "core")
    assert {r[0]: r[1] for r in dbs.query_analytics(TRANSFORMED_SUMS)} == core
