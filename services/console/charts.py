"""Small inline SVG charts: the geometry here, the drawing in templates/_charts.html.

Every number is worked out on the server, so the page needs no script to draw, and
each bar or point carries a title (escaped by the template) that says what it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    """Bars (one per run), an optional line over them, and the frame's size."""

    width: int
    height: int
    bars: list[Bar]
    line: str  # SVG polyline points, "" for none
    label: str


def _scale(values: Sequence[float | None], height: float) -> list[float]:
    top = max((v for v in values if v is not None), default=0.0) or 1.0
    return [0.0 if v is None else height * v / top for v in values]


def bar_chart(
    values: Sequence[float | None],
    *,
    css: Sequence[str],
    titles: Sequence[str],
    label: str,
    width: int = 160,
    height: int = 32,
) -> Chart:
    """One bar per value, tallest at ``height``; ``css`` and ``titles`` go with each bar."""
    count = max(len(values), 1)
    step = width / count
    bars = [
        Bar(
            x=round(i * step, 2),
            y=round(height - h, 2),
            width=round(max(step - 1, 1), 2),
            height=round(max(h, 1), 2),
            css=css[i],
            title=titles[i],
        )
        for i, h in enumerate(_scale(values, height))
    ]
    return Chart(width, height, bars, "", label)


def line_points(values: Sequence[float | None], *, width: int, height: int) -> str:
    """Polyline points through ``values`` (skipping unknown ones), centred on each bar."""
    count = max(len(values), 1)
    step = width / count
    scaled = _scale(values, height - 2)
    return " ".join(
        f"{i * step + step / 2:.1f},{height - 1 - h:.1f}"
        for i, (h, v) in enumerate(zip(scaled, values, strict=True))
        if v is not None
    )
