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
from typing import Any, TextIO

import click

from services.base.results import RunResult
from services.base.run_settings import DEFAULT_PROGRESS_EVERY_S

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# A run's expected row count, or a function that estimates the rows still
# ahead of the saved position: called only when a display needs it (a bar at
# start, the first log line), because it costs a pre-flight and an estimate
# query that a short run never needs.
Total = int | None | Callable[[], int | None]


def resolve_total(total: Total, done: int = 0) -> int | None:
    """The run's total: ``total`` itself, or ``done`` plus the rows still ahead."""
    if not callable(total):
        return total
    ahead = total()
    return None if ahead is None else done + ahead


def rate_text(done: int, total: int | None, elapsed_s: float) -> str:
    """``41,200 rows/s, ETA 18s`` (the ETA only when a total is known)."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    text = f"{rate:,.0f} rows/s"
    if total and rate > 0:
        text += f", ETA {max(total - done, 0) / rate:,.0f}s"
    return text


def progress_text(done: int, total: int | None, elapsed_s: float) -> str:
    """``250,000/~1,000,000 rows (25%), 41,200 rows/s, ETA 18s`` (total and ETA when known)."""
    if not total:
        return f"{done:,} rows, {rate_text(done, None, elapsed_s)}"
    total = max(total, done)
    return f"{done:,}/~{total:,} rows ({done * 100 // total}%), {rate_text(done, total, elapsed_s)}"


def chunks_text(result: RunResult) -> str:
    """``, backfill chunks 7/24 (120,000 rows, all runners)`` while a backfill runs."""
    chunks = result.chunks
    if not chunks:
        return ""
    return (
        f", backfill chunks {chunks['done']:,}/{chunks['total']:,}"
        f" ({chunks['rows']:,} rows, all runners)"
    )


class LogProgress:
    """One log line at most every ``every_s`` seconds, for cron and CI logs."""

    def __init__(self, name: str, total: Total, *, every_s: float, clock: Clock = time.monotonic):
        self.name, self.every_s, self.clock = name, every_s, clock
        self.pending_total: Total = total
        self.total: int | None = None
        self.started = self.last = clock()

    def __call__(self, result: RunResult) -> None:
        now = self.clock()
        if now - self.last < self.every_s:
            return
        self.last = now
        if self.pending_total is not None:  # the first line: now the total is worth finding
            done = result.counts.read  # the position just committed is where it counts from
            self.total, self.pending_total = resolve_total(self.pending_total, done), None
        text = progress_text(result.counts.read, self.total, now - self.started)
        log.info("%s: %s%s", self.name, text, chunks_text(result))

    def close(self) -> None:
        """Nothing to settle: the run's summary line follows."""


class BarProgress:
    """click's progress bar with rows done, rows/s and ETA, for a terminal."""

    def __init__(self, name: str, total: Total, *, file: TextIO, clock: Clock = time.monotonic):
        self.clock, self.started, self.done = clock, clock(), 0
        self.bar: Any = click.progressbar(
            length=max(resolve_total(total) or 0, 1),
            label=name,
            file=file,
            show_pos=True,
            show_eta=False,  # our own ETA, labelled, next to the rate
            item_show_func=lambda text: text,
        )
        self.bar.__enter__()

    def __call__(self, result: RunResult) -> None:
        done = result.counts.read
        # The total is an estimate: grow it rather than run past 100 %.
        self.bar.length = max(self.bar.length, done)
        text = rate_text(done, self.bar.length, self.clock() - self.started)
        self.bar.update(done - self.done, text + chunks_text(result))
        self.done = done

    def close(self) -> None:
        self.bar.length = max(self.done, 1)
        self.bar.finished = True
        self.bar.render_progress()
        self.bar.render_finish()


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
    finally:
        reporter.close()
