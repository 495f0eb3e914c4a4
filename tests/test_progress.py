"""Progress of long runs: a bar on a terminal, log lines elsewhere, totals from a count of
the window (exact, or "at least" when its time budget ran out) or a backfill's chunks."""

from __future__ import annotations

import io
import logging
import os
import pty
import subprocess

import pytest
from dbtools import TestDatabases, start_cli
from opstools import JOB, RunCli, databases, definition, seeded

from services.base.results import RunResult
from services.base.run_settings import progress_every_s
from services.reporting.progress import BarProgress, LogProgress
from services.reporting.progress_figures import ChunkShare, figures
from services.store.estimate import RowCount, count_window, pending_count, pending_window
from services.store.preflight import plan_definition


def _result(read: int) -> RunResult:
    result = RunResult(job=JOB, definition="StatEvent")
    result.counts.read = read
    return result


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_text_has_rows_rate_and_eta() -> None:
    counted = RowCount(1_000_000, exact=True)
    assert figures(250_000, 10.0, count=counted).text() == (
        "250,000/1,000,000 rows (25%), 25,000 rows/s, ETA 30s"
    )
    assert figures(500, 2.0).text() == "500 rows, 250 rows/s"


def test_a_count_the_run_has_passed_never_shows_above_100_percent() -> None:
    shown = figures(1_200, 1.0, count=RowCount(1_000, exact=True))
    assert shown.percent is None and shown.eta_s is None
    assert shown.text() == "1,200 rows of at least 1,200, 1,200 rows/s"


def test_a_lower_bound_gives_no_percentage_and_no_eta() -> None:
    shown = figures(440_000, 20.0, count=RowCount(1_000_000, exact=False))
    assert (shown.percent, shown.eta_s, shown.basis) == (None, None, "at least")
    assert shown.text() == "440,000 rows of at least 1,000,000, 22,000 rows/s"


def test_rows_left_never_show_an_eta_of_zero() -> None:
    shown = figures(999_999, 1.0, count=RowCount(1_000_000, exact=True))
    assert shown.percent == 99 and shown.eta_s == 1.0
    assert shown.text().endswith("ETA 1s")


def test_a_backfill_takes_its_share_from_the_chunk_plan() -> None:
    # 6 of 24 chunks, 250 of 1,000 heap blocks, 100,000 rows in them: ~400,000 in all.
    share = ChunkShare(
        chunks_done=6, chunks_total=24, pages_done=250, pages_total=1_000, rows_done=100_000
    )
    shown = figures(100_000, 10.0, chunks=share)
    assert (shown.percent, shown.total, shown.eta_s) == (25, 400_000, 30.0)
    assert shown.text() == "100,000/~400,000 rows (25%, chunks 6/24), 10,000 rows/s, ETA 30s"
    # The last chunk reaches past the planned heap: still below 100 % until it is done.
    grown = ChunkShare(23, 24, 1_000, 1_000, 400_000)
    assert figures(400_000, 40.0, chunks=grown).percent == 99


def test_a_window_is_counted_exactly_with_stale_statistics(dbs: TestDatabases) -> None:
    """Rows bulk-inserted and never analyzed: the planner would guess, the count does not."""
    seeded(dbs, stat_events=10, import_jobs=0)
    dbs.query_core('ANALYZE "StatEvent"')
    dbs.query_core(
        'INSERT INTO "StatEvent" ("id", "type", "source", "source_id", "updatedAt")'
        " SELECT 'bulk-' || g, 'click', 'api', 's', now() - interval '1 h' + g * interval '1 ms'"
        " FROM generate_series(1, 25000) AS g"
    )
    with databases(dbs) as pools:
        counted = pending_count(pools, JOB, "StatEvent", definition("StatEvent"), budget_ms=10_000)
    assert counted == RowCount(25_010, exact=True)


def test_a_count_out_of_time_is_a_lower_bound(dbs: TestDatabases) -> None:
    seeded(dbs, stat_events=12_000, import_jobs=0)
    ticks = iter([0.0, 0.0, 10.0])  # the budget is gone after the first step (10,000 rows)
    with (
        databases(dbs) as pools,
        pools.core.connection() as core,
        pools.analytics.connection() as an,
    ):
        core.autocommit = an.autocommit = True
        plan = plan_definition(JOB, "StatEvent", definition("StatEvent"), core=core, analytics=an)
        window = pending_window(core, plan, None)
        assert window is not None
        found = count_window(core, plan, window, budget_ms=300, clock=lambda: next(ticks))
    assert found == RowCount(10_000, exact=False)


def test_log_progress_logs_at_most_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    progress = LogProgress("StatEvent", RowCount(1000, exact=True), every_s=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="services.reporting.progress"):
        for second, read in [(4, 100), (11, 200), (15, 300), (22, 400)]:
            clock.now = second
            progress(_result(read))
    assert [r.getMessage() for r in caplog.records] == [
        "StatEvent: 200/1,000 rows (20%), 18 rows/s, ETA 44s",
        "StatEvent: 400/1,000 rows (40%), 18 rows/s, ETA 33s",
    ]


def test_the_interval_comes_from_the_environment() -> None:
    assert progress_every_s({}) == 10.0
    assert progress_every_s({"TABLESYNC_PROGRESS_EVERY_S": "2.5"}) == 2.5
    assert progress_every_s({"TABLESYNC_PROGRESS_EVERY_S": "often"}) == 10.0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_shows_rows_done_rate_and_settles_at_the_real_total() -> None:
    clock, out = _Clock(), _Terminal()
    bar = BarProgress("StatEvent", RowCount(300, exact=True), file=out, clock=clock)
    for second, read in [(1, 100), (2, 200), (3, 400)]:
        clock.now = second
        bar(_result(read))
    bar.close(finished=True)
    lines = [line.strip() for line in out.getvalue().split("\r") if line.strip()]
    assert "100/300 rows (33%), 100 rows/s, ETA 2s" in lines[1]
    assert lines[1].startswith("StatEvent  [#########-")
    # More rows than counted (they came in since): no share, never past 100 %.
    assert lines[3].endswith("400 rows of at least 400, 133 rows/s")
    assert lines[-1] == "StatEvent  [" + "#" * 28 + "]  400 rows in 3s, 133 rows/s"


def test_a_stopped_run_leaves_its_bar_where_it_got_to() -> None:
    clock, out = _Clock(), _Terminal()
    bar = BarProgress("StatEvent", RowCount(1_000, exact=True), file=out, clock=clock)
    clock.now = 1
    bar(_result(250))
    bar.close(finished=False)
    last = out.getvalue().rsplit("\r", 1)[-1]
    assert "250/1,000 rows (25%)" in last and "#" * 28 not in last


def test_without_a_terminal_the_cli_logs_progress_lines(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=100, import_jobs=0)
    code, out, err = run_cli([JOB, "StatEvent"], env={**env, "TABLESYNC_PROGRESS_EVERY_S": "0"})
    assert code == 0, out + err
    # A first load is a backfill: its one chunk done, the total is known.
    assert "services.reporting.progress: StatEvent: 100/100 rows (100%, chunks 1/1)" in err
    assert "[#" not in out


def test_on_a_terminal_the_cli_draws_a_bar(dbs: TestDatabases, env: dict[str, str]) -> None:
    seeded(dbs, stat_events=100, import_jobs=0)
    leader, follower = pty.openpty()
    process = start_cli([JOB, "StatEvent"], env, stdout=follower, stderr=subprocess.DEVNULL)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the other side closed: the run is over
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=120) == 0
    text = b"".join(chunks).decode()
    assert "StatEvent  [" in text and "100 rows in" in text and "rows/s" in text
    assert "StatEvent: succeeded" in text
