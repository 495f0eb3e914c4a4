"""The console's run charts: an axis with units, failed runs marked, outliers clipped and
labelled, tiny values kept small, "no runs yet" for none (services/console/charts.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.console.charts import run_chart

NOW = dt.datetime(2026, 12, 6, 7, 0, tzinfo=dt.UTC)


def _runs(values: list[float], statuses: list[str] | None = None) -> list[dict[str, Any]]:
    statuses = statuses or ["succeeded"] * len(values)
    return [
        {"id": i, "status": s, "started_at": NOW + dt.timedelta(minutes=i), "rows_read": v}
        for i, (v, s) in enumerate(zip(values, statuses, strict=True))
    ]


def _seconds(runs: list[dict[str, Any]]) -> Any:
    return run_chart(runs, lambda r: float(r["rows_read"]), unit="seconds", label="duration")


def test_one_outlier_is_clipped_and_labelled_with_its_real_value() -> None:
    chart = _seconds(_runs([10, 12, 11, 339 * 86400, 9]))
    assert [t.label for t in chart.ticks] == ["0s", "30s", "1m"]  # the others fill the axis
    clipped = [m for m in chart.markers if m.css == "clipped"]
    assert [m.label for m in clipped] == ["339d"]
    assert "339d" in chart.markers_svg() and "clipped at the top" in str(chart.legend)


def test_tiny_durations_stay_small_on_an_axis_of_at_least_one_second() -> None:
    chart = _seconds(_runs([0.01, 0.01]))
    assert chart.ticks[-1].label == "1s"
    span = chart.bottom - chart.top
    assert all(bar.height <= 0.05 * span for bar in chart.bars)


def test_failed_and_cancelled_runs_get_a_marker_in_their_colour_even_at_zero() -> None:
    chart = _seconds(_runs([5, 0, 0, 5], ["succeeded", "failed", "cancelled", "succeeded"]))
    assert [m.css for m in chart.markers] == ["failed", "cancelled"]
    assert {css for css, _ in chart.legend} == {"succeeded", "failed", "cancelled"}
    assert all(bar.height > 0 for bar in chart.bars)


def test_no_runs_says_so_and_words_are_escaped() -> None:
    assert _seconds([]).empty == "no runs yet"
    chart = _seconds(_runs([0.5], ["<b>odd</b>"]))
    assert "<b>" not in chart.bars_svg() and "&lt;b&gt;odd" in chart.bars_svg()
    assert "&amp;" not in chart.bars_svg()  # escaped once, never twice
