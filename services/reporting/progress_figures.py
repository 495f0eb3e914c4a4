"""What a run's progress says, worked out in one place for every display: the terminal
bar, the log lines, the console's run page and its JSON.

Progress never claims more than it knows. A percentage and an ETA only from a total
that is known: an exact count of the run's window, or a backfill's chunk plan (the
share of the source's heap blocks done is exact; its row total is those chunks' rows
scaled to the whole heap). A count cut short by its time budget is a lower bound:
"at least", no percentage, no ETA. Never above 100 %, never an ETA of 0 with rows left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from services.base import format_duration
from services.store import RowCount

# How a total was found: counted, scaled from a backfill's chunks, a lower bound, unknown.
Basis = Literal["count", "chunks", "at least", "none"]


@dataclass(frozen=True)
class ChunkShare:
    """A backfill's chunks done so far, over all its runners."""

    chunks_done: int
    chunks_total: int
    pages_done: int
    pages_total: int
    rows_done: int

    @property
    def fraction(self) -> float:
        return min(self.pages_done / self.pages_total, 1.0) if self.pages_total > 0 else 0.0

    @classmethod
    def from_dict(cls, chunks: dict[str, int] | None) -> ChunkShare | None:
        """From RunResult.chunks; None without the page counts it needs."""
        if not chunks or "pages_total" not in chunks:
            return None
        return cls(
            chunks["done"],
            chunks["total"],
            chunks["pages_done"],
            chunks["pages_total"],
            chunks["rows"],
        )


@dataclass(frozen=True)
class Figures:
    """Rows done, the rate and, when known, the total, the share done and the time left."""

    done: int
    elapsed_s: float
    rows_per_s: float
    basis: Basis
    total: int | None = None  # rows in all: counted, or scaled from the chunks done
    at_least: int | None = None  # a lower bound on the total, when that is all there is
    fraction: float | None = None  # 0..1, only from a known total
    eta_s: float | None = None  # only from a known total, with rows left and a rate
    chunks: ChunkShare | None = None
    finished: bool = False

    @property
    def percent(self) -> int | None:
        # Rounded down: 99.9 % is not done.
        return None if self.fraction is None else math.floor(self.fraction * 100)

    def text(self) -> str:
        """``250,000/1,000,000 rows (25%), 41,200 rows/s, ETA 18s`` and its kin."""
        rate = f"{self.rows_per_s:,.0f} rows/s"
        done = f"{self.done:,} {'row' if self.done == 1 else 'rows'}"
        if self.finished:
            return f"{done} in {format_duration(self.elapsed_s)}, {rate}"
        if self.basis == "at least":
            return f"{done} of at least {self.at_least:,}, {rate}"
        if self.total is None or self.fraction is None:
            return f"{done}, {rate}"
        about = "~" if self.basis == "chunks" else ""
        share = f"{self.percent}%"
        if self.chunks is not None:
            share += f", chunks {self.chunks.chunks_done:,}/{self.chunks.chunks_total:,}"
        eta = "" if self.eta_s is None else f", ETA {format_duration(self.eta_s)}"
        return f"{self.done:,}/{about}{self.total:,} rows ({share}), {rate}{eta}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.done,
            "total": self.total,
            "at_least": self.at_least,
            "basis": self.basis,
            "percent": self.percent,
            "fraction": None if self.fraction is None else round(self.fraction, 4),
            "rows_per_s": round(self.rows_per_s, 1),
            "eta_s": self.eta_s,
            "elapsed_s": round(self.elapsed_s, 3),
            "finished": self.finished,
            "chunks": None if self.chunks is None else vars(self.chunks),
            "text": self.text(),
        }


def _eta(left: int, rate: float) -> float | None:
    # Whole seconds, rounded up: rows left never show as "ETA 0s".
    return float(max(math.ceil(left / rate), 1)) if left > 0 and rate > 0 else None


def figures(
    done: int,
    elapsed_s: float,
    *,
    count: RowCount | None = None,
    chunks: ChunkShare | None = None,
    finished: bool = False,
) -> Figures:
    """The progress of a run that has read ``done`` rows in ``elapsed_s``.

    ``count``: the rows of its whole window (done included) as counted; ``chunks``: a
    backfill's share done, which wins over a count. ``finished``: the run is over.
    """
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    if finished:
        return Figures(done, elapsed_s, rate, "count", done, None, 1.0, None, chunks, True)
    if chunks is not None:
        return _from_chunks(done, elapsed_s, rate, chunks)
    if count is None or (count.rows == 0 and not count.exact):
        return Figures(done, elapsed_s, rate, "none")
    if not count.exact or count.rows < done:
        # A bound, or a count the run has already passed (rows came in since): no share.
        return Figures(done, elapsed_s, rate, "at least", at_least=max(count.rows, done))
    left = count.rows - done
    return Figures(
        done, elapsed_s, rate, "count", count.rows, None, done / count.rows, _eta(left, rate)
    )


def _from_chunks(done: int, elapsed_s: float, rate: float, chunks: ChunkShare) -> Figures:
    """A backfill: rows done by every runner, the total scaled from the heap's share done."""
    shown = max(chunks.rows_done, done)
    fraction = chunks.fraction
    if fraction <= 0:
        return Figures(shown, elapsed_s, rate, "none", chunks=chunks)
    total = max(round(chunks.rows_done / fraction), shown)
    left = total - shown
    if chunks.chunks_done >= chunks.chunks_total:  # every chunk done: the total is known
        return Figures(shown, elapsed_s, rate, "count", chunks.rows_done, None, 1.0, None, chunks)
    # The share is of heap blocks, so it stays below 100 % until every chunk is done.
    capped = min(fraction, 0.999)
    return Figures(shown, elapsed_s, rate, "chunks", total, None, capped, _eta(left, rate), chunks)
