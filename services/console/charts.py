"""Run charts as inline SVG: the geometry here, the drawing in templates/_macros.html.

Every number is worked out on the server, so the page needs no script to draw. A chart
has a value axis with its unit, the runs oldest to newest with the first and last
run's time, a legend of what it shows, and each bar a title saying what it is. Runs
that failed, were cancelled or abandoned get a marker in their colour, whatever their
height. One outlier does not flatten the rest: a value far above the others is clipped
at the top, marked, and labelled with its real value. The axis never starts below a
floor (1 s, 10 rows), so two runs of 0.01 s do not fill the box as slow ones would.

The words drawn are made here from numbers, run ids and statuses, and escaped here
(``Markup``), so the page does not pass each of them through the redaction that data
needs: 50 charts of 20 runs are some 4,000 strings, a third of the overview's time.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from markupsafe import Markup, escape

from services.base import format_duration

RunRecord = dict[str, Any]
Unit = Literal["rows", "seconds"]
# A value more than this many times the median of the others is clipped at the top.
OUTLIER_FACTOR = 5.0
# The axis reaches at least this far: tiny values stay small.
FLOORS: dict[Unit, float] = {"rows": 10.0, "seconds": 1.0}
# Statuses drawn with a marker, and every status's words in the legend.
MARKED = ("failed", "cancelled", "abandoned")
LEGEND_WORDS = {
    "succeeded": "succeeded",
    "running": "running",
    "failed": "failed",
    "cancelled": "cancelled",
    "abandoned": "abandoned",
}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: Markup
    title: Markup


@dataclass(frozen=True)
class Marker:
    """A run that did not succeed, or a clipped value, at (x, y)."""

    x: float
    y: float
    css: Markup
    title: Markup
    label: Markup = Markup("")  # a clipped value's real size, printed beside its marker


@dataclass(frozen=True)
class Tick:
    y: float
    label: Markup


@dataclass
class Chart:
    """The frame, the plot area inside it, and what is drawn there."""

    width: int
    height: int
    label: str
    left: float = 0.0  # the plot area: from left to width, from top to bottom
    top: float = 0.0
    bottom: float = 0.0
    bars: list[Bar] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    first: str = ""  # the oldest run's time, under the left end
    last: str = ""  # the newest run's, under the right end
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css, words)
    empty: str = ""  # "no runs yet": drawn instead of an empty frame

    def bars_svg(self) -> Markup:
        """Every bar as SVG in one piece: a template loop, or Markup.format, per bar costs
        more than the rest of the overview (it draws some 1,000 bars). Safe to join as
        text: the words are Markup escaped when made, the rest are numbers."""
        return Markup(
            "".join(
                f'<rect class="bar {b.css}" x="{b.x}" y="{b.y}" width="{b.width}"'
                f' height="{b.height}"><title>{b.title}</title></rect>'
                for b in self.bars
            )
        )

    def markers_svg(self) -> Markup:
        """Each marker: a triangle and its real value where a bar is clipped, else a dot."""
        return Markup("".join(_marker_svg(m, self.width) for m in self.markers))


def _marker_svg(m: Marker, width: int) -> str:
    """SVG text of ``m`` (its words are escaped Markup, the rest numbers)."""
    if m.css != "clipped":
        return (
            f'<circle class="marker {m.css}" cx="{m.x}" cy="{m.y}" r="3.5">'
            f"<title>{m.title}</title></circle>"
        )
    triangle = f"{m.x - 4},{m.y + 3} {m.x + 4},{m.y + 3} {m.x},{m.y - 3}"
    # Near the right edge the label goes to the left of its triangle.
    anchor, at = ("end", m.x - 6) if m.x > width * 0.7 else ("start", m.x + 6)
    return (
        f'<polygon class="marker clipped" points="{triangle}"><title>{m.title}</title></polygon>'
        f'<text class="tick clipped-label" x="{at}" y="{m.y + 3}" text-anchor="{anchor}">'
        f"{m.label}</text>"
    )


def format_value(value: float, unit: Unit) -> str:
    """``1.2k rows``-style short numbers, or a duration."""
    if unit == "seconds":
        if 0 < value < 1:
            return f"{value:.2f}s"
        return format_duration(value)
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.0f}"


def nice_top(value: float, unit: Unit) -> float:
    """The axis's top: ``value`` rounded up to 1, 2 or 5 times a power of ten (seconds
    also to 1m, 5m, 1h...), never below the unit's floor."""
    value = max(value, FLOORS[unit])
    if unit == "seconds":
        for step in (60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400):
            if value <= step and value > 30:
                return float(step)
        if value > 86400:
            return math.ceil(value / 86400) * 86400.0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if value <= factor * power:
            return float(factor * power)
    return float(10 * power)


def clip_limit(values: Sequence[float], unit: Unit) -> float | None:
    """Where the outliers start: OUTLIER_FACTOR times the median of the positive values,
    when some value lies well above the axis that limit gives (twice its top); else None."""
    positive = [v for v in values if v > 0]
    if len(positive) < 3:
        return None
    limit = statistics.median(positive) * OUTLIER_FACTOR
    return limit if max(positive) > 2 * nice_top(limit, unit) else None


def _stamp(record: RunRecord) -> str:
    at = record.get("started_at")
    return f"{at.astimezone(dt.UTC):%m-%d %H:%M}Z" if isinstance(at, dt.datetime) else ""


def run_chart(
    runs: Sequence[RunRecord],
    value: Callable[[RunRecord], float | None],
    *,
    unit: Unit,
    label: str,
    width: int = 480,
    height: int = 140,
    compact: bool = False,
) -> Chart:
    """One bar per run of ``runs`` (oldest first) at ``value(run)`` in ``unit``."""
    chart = Chart(width, height, label)
    if not runs:
        chart.empty = "no runs yet"
        return chart
    values = [value(r) for r in runs]
    known = [v for v in values if v is not None]
    limit = clip_limit(known, unit)
    top = nice_top(limit if limit is not None else max(known, default=0.0), unit)
    chart.left = 0.0 if compact else 44.0
    chart.top = 10.0 if compact else 14.0
    # Below the plot: the times of the first and last runs, or (compact) the axis's range.
    chart.bottom = height - (12.0 if compact else 18.0)
    span = chart.bottom - chart.top
    step = (width - chart.left) / len(runs)

    def y_of(v: float) -> float:
        return chart.bottom - span * min(v, top) / top

    chart.ticks = [Tick(y_of(t), escape(format_value(t, unit))) for t in (0.0, top / 2, top)]
    for i, (run, v) in enumerate(zip(runs, values, strict=True)):
        _draw_run(chart, run, v, unit, x=chart.left + i * step, step=step, top=top, y_of=y_of)
    if not compact:
        chart.first, chart.last = _stamp(runs[0]), _stamp(runs[-1])
    chart.legend = _legend(runs, clipped=any(m.css == "clipped" for m in chart.markers))
    return chart


def _draw_run(
    chart: Chart,
    run: RunRecord,
    v: float | None,
    unit: Unit,
    *,
    x: float,
    step: float,
    top: float,
    y_of: Callable[[float], float],
) -> None:
    status = escape(str(run.get("status", "")))
    shown = escape("unknown" if v is None else format_value(v, unit))
    # Each part escaped once: the title is their text joined.
    title = Markup(f"run {escape(str(run.get('id')))}: {status}, {shown}")
    height = chart.bottom - y_of(v or 0.0)
    # At least a sliver: a zero is drawn, and tells apart from a missing run.
    height = max(height, 1.5)
    width = max(step - 1, 1)
    y = round(chart.bottom - height, 2)
    chart.bars.append(Bar(round(x, 2), y, round(width, 2), round(height, 2), status, title))
    middle = round(x + width / 2, 2)
    if v is not None and v > top:
        clipped = Markup("clipped")
        chart.markers.append(Marker(middle, chart.top - 4, clipped, title + " (clipped)", shown))
    if status in MARKED:
        chart.markers.append(Marker(middle, round(chart.bottom - height - 4, 2), status, title))


def _legend(runs: Sequence[RunRecord], *, clipped: bool) -> list[tuple[str, str]]:
    present = {str(r.get("status")) for r in runs}
    items = [(css, words) for css, words in LEGEND_WORDS.items() if css in present]
    if clipped:
        items.append(("clipped", "clipped at the top (real value shown)"))
    return items
