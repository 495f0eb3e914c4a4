"""A run's progress total is counted only when a display needs it (lever D of
docs/benchmarks/round-2.md).

The count costs a second pre-flight and a query; a run that ends before
its first progress line never pays for it.
"""

from __future__ import annotations

import io
import logging

import pytest

from services.base.results import RunResult
from services.reporting.progress import BarProgress, LogProgress
from services.store.estimate import RowCount


class _Estimate:
    """Rows still ahead, counting how often it was asked."""

    def __init__(self, ahead: int, *, exact: bool = True) -> None:
        self.ahead, self.calls, self.exact = ahead, 0, exact

    def __call__(self) -> RowCount:
        self.calls += 1
        return RowCount(self.ahead, exact=self.exact)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _result(read: int) -> RunResult:
    result = RunResult(job="export-to-pg", definition="StatEvent")
    result.counts.read = read
    return result


def test_log_lines_ask_for_the_estimate_once_at_the_first_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.reporting.progress")
    estimate, clock = _Estimate(ahead=700), _Clock()
    progress = LogProgress("StatEvent", estimate, every_s=10.0, clock=clock)
    clock.now = 5
    progress(_result(100))  # no line due yet: nothing asked
    assert estimate.calls == 0
    clock.now = 11
    progress(_result(300))  # the first line: 300 done + 700 ahead
    clock.now = 22
    progress(_result(600))

    assert estimate.calls == 1
    assert "300/1,000 rows (30%)" in caplog.records[0].getMessage()
    assert "600/1,000 rows (60%)" in caplog.records[1].getMessage()


def test_a_run_shorter_than_one_log_interval_never_asks() -> None:
    estimate = _Estimate(ahead=10)
    progress = LogProgress("StatEvent", estimate, every_s=10.0, clock=_Clock())
    progress(_result(10))
    progress.close(finished=True)
    assert estimate.calls == 0


def test_a_bar_asks_at_start() -> None:
    estimate, out = _Estimate(ahead=300), io.StringIO()
    bar = BarProgress("StatEvent", estimate, file=out, clock=_Clock())
    assert estimate.calls == 1
    bar.close(finished=True)


def test_a_lower_bound_is_counted_again_an_exact_count_never(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.reporting.progress")
    estimate, clock = _Estimate(ahead=10_000, exact=False), _Clock()
    progress = LogProgress("StatEvent", estimate, every_s=1.0, clock=clock)
    for second, read in [(2, 1_000), (5, 2_000), (13, 3_000)]:
        clock.now = second
        progress(_result(read))
    assert estimate.calls == 2  # at 2 s, and again at 13 s (RECOUNT_S after the first)
    assert "3,000 rows of at least 13,000" in caplog.records[-1].getMessage()
    estimate.exact = True
    for second in (30, 45, 60):
        clock.now = second
        progress(_result(4_000))
    assert estimate.calls == 3  # exact at 30 s: never asked again
    assert "4,000/14,000 rows (28%)" in caplog.records[-1].getMessage()
