"""Progress of long runs: a bar on a terminal, log lines elsewhere, totals from an estimate."""

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
from services.reporting.progress import BarProgress, LogProgress, progress_text
from services.store.estimate import pending_estimate


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
    assert progress_text(250_000, 1_000_000, 10.0) == (
        "250,000/~1,000,000 rows (25%), 25,000 rows/s, ETA 30s"
    )
    assert progress_text(500, None, 2.0) == "500 rows, 250 rows/s"
    # An estimate that was too low never shows more than 100 %.
    assert progress_text(1_200, 1_000, 1.0).startswith("1,200/~1,200 rows (100%)")


def test_log_progress_logs_at_most_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    progress = LogProgress("StatEvent", 1000, every_s=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="services.reporting.progress"):
        for second, read in [(4, 100), (11, 200), (15, 300), (22, 400)]:
            clock.now = second
            progress(_result(read))
    assert [r.getMessage() for r in caplog.records] == [
        "StatEvent: 200/~1,000 rows (20%), 18 rows/s, ETA 44s",
        "StatEvent: 400/~1,000 rows (40%), 18 rows/s, ETA 33s",
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
    bar = BarProgress("StatEvent", 300, file=out, clock=clock)
    for second, read in [(1, 100), (2, 200), (3, 400)]:
        clock.now = second
        bar(_result(read))
    bar.close()
    text = out.getvalue()
    assert "StatEvent" in text and "100/300" in text and "100 rows/s, ETA 2s" in text
    assert "400/400" in text.splitlines()[-1] or "400/400" in text.rsplit("\r", 1)[-1]


def test_a_large_estimate_comes_from_the_planner_not_a_count(dbs: TestDatabases) -> None:
    seeded(dbs, stat_events=2_000, import_jobs=0)
    dbs.query_core('ANALYZE "StatEvent"')
    with databases(dbs) as pools:
        estimate = pending_estimate(pools, JOB, "StatEvent", definition("StatEvent"))
    assert estimate is not None and 1_000 <= estimate <= 4_000


def test_without_a_terminal_the_cli_logs_progress_lines(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=100, import_jobs=0)
    code, out, err = run_cli([JOB, "StatEvent"], env={**env, "TABLESYNC_PROGRESS_EVERY_S": "0"})
    assert code == 0, out + err
    assert "services.reporting.progress: StatEvent: 100/~" in err
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
    assert "StatEvent  [" in text and "100/100" in text and "rows/s" in text
    assert "StatEvent: succeeded" in text
