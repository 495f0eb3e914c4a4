"""Progress of a long run: a bar on a terminal, a log line every few seconds elsewhere.

``process_definition`` calls its ``progress`` callback after each committed
batch with the run's result so far; the reporters here turn those calls into
something a person (terminal) or a log reader (cron, CI) can follow.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from services.base import DEFAULT_PROGRESS_EVERY_S, RunResult
from services.reporting.progress_figures import ChunkShare, Figures, figures
from services.store import RowCount

log = logging.getLogger(__name__)

BAR_WIDTH = 28
# A total that is only a lower bound is counted again at most this often: the window
# left shrinks as the run goes, so a count cut short at first often ends exactly later.
RECOUNT_S = 10.0
Clock = Callable[[], float]
# A run's row count, or a function that counts the rows still ahead of the saved
# position: called only when a display needs it (a bar at start, the first log line),
# because it costs a pre-flight and a count that a short run never needs.
Total = RowCount | None | Callable[[], RowCount | None]


def resolve_total(total: Total, done: int = 0) -> RowCount | None:
    """The run's total: ``total`` itself, or ``done`` plus the rows still ahead."""
    if not callable(total):
        return total
    ahead = total()
    return None if ahead is None else RowCount(done + ahead.rows, exact=ahead.exact)


def result_figures(
    result: RunResult, count: RowCount | None, elapsed_s: float, *, finished: bool = False
) -> Figures:
    """``figures`` of a run result: its rows read, and its backfill's chunks if any."""
    chunks = ChunkShare.from_dict(result.chunks)
    return figures(result.counts.read, elapsed_s, count=count, chunks=chunks, finished=finished)


class RunningTotal:
    """A run's total as displays ask for it: counted at the first ask, counted again
    (at most every RECOUNT_S) while it is only "at least" or unknown; never again once
    exact. A plain number or None is kept as given."""

    def __init__(self, total: Total, clock: Clock) -> None:
        self.source, self.clock = total, clock
        self.known: RowCount | None = None if callable(total) else total
        self.asked_at: float | None = None

    def now(self, done: int) -> RowCount | None:
        """The total for a run that has read ``done`` rows (the position just committed)."""
        if not callable(self.source) or (self.known is not None and self.known.exact):
            return self.known
        at = self.clock()
        if self.asked_at is None or at - self.asked_at >= RECOUNT_S:
            self.known, self.asked_at = resolve_total(self.source, done), at
        return self.known


class LogProgress:
    """One log line at most every ``every_s`` seconds, for cron and CI logs."""

    def __init__(self, name: str, total: Total, *, every_s: float, clock: Clock = time.monotonic):
        self.name, self.every_s, self.clock = name, every_s, clock
        self.total = RunningTotal(total, clock)
        self.started = self.last = clock()

    def __call__(self, result: RunResult) -> None:
        now = self.clock()
        if now - self.last < self.every_s:
            return
        self.last = now
        # Only now is the total worth finding (a backfill has its chunks instead).
        count = None if result.chunks is not None else self.total.now(result.counts.read)
        log.info("%s: %s", self.name, result_figures(result, count, now - self.started).text())

    def close(self, *, finished: bool) -> None:
        """Nothing to settle: the run's summary line follows."""


class BarProgress:
    """A bar with rows done, the total when known, rows/s and ETA, redrawn on a terminal."""

    def __init__(self, name: str, total: Total, *, file: TextIO, clock: Clock = time.monotonic):
        self.name, self.file, self.clock = name, file, clock
        self.started = clock()
        self.total = RunningTotal(total, clock)
        self.result: RunResult | None = None
        self.width = 0  # of the line drawn last, to blank what a shorter one leaves
        self._draw(figures(0, 0.0, count=self.total.now(0)))

    def __call__(self, result: RunResult) -> None:
        self.result = result
        count = None if result.chunks is not None else self.total.now(result.counts.read)
        self._draw(result_figures(result, count, self.clock() - self.started))

    def _draw(self, shown: Figures) -> None:
        filled = 0 if shown.fraction is None else round(shown.fraction * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        line = f"{self.name}  [{bar}]  {shown.text()}"
        self.file.write("\r" + line.ljust(self.width))
        self.file.flush()
        self.width = len(line)

    def close(self, *, finished: bool) -> None:
        """The last line: full only when the run ended well; a stop or failure stays where
        it got to."""
        if self.result is not None:
            elapsed = self.clock() - self.started
            count = self.total.known if self.result.chunks is None else None
            self._draw(result_figures(self.result, count, elapsed, finished=finished))
        self.file.write("\n")
        self.file.flush()


Reporter = LogProgress | BarProgress


def make_reporter(
    name: str, total: Total, *, tty: bool, every_s: float = DEFAULT_PROGRESS_EVERY_S
) -> Reporter:
    """A bar on stdout when it is a terminal, else log lines every ``every_s`` seconds
    (TABLESYNC_PROGRESS_EVERY_S)."""
    if tty:
        return BarProgress(name, total, file=sys.stdout)
    return LogProgress(name, total, every_s=every_s)


@contextmanager
def reporting(
    name: str, total: Total, *, tty: bool | None = None, every_s: float = DEFAULT_PROGRESS_EVERY_S
) -> Iterator[Callable[[RunResult], None]]:
    """The progress callback of one definition run; the bar is closed when the run ends."""
    tty = sys.stdout.isatty() if tty is None else tty
    reporter = make_reporter(name, total, tty=tty, every_s=every_s)
    try:
        yield reporter
    except BaseException:
        reporter.close(finished=False)
        raise
    reporter.close(finished=True)
