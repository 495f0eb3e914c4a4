"""``/metrics``: Prometheus text computed from the run records at each scrape.

Nothing is counted in the console's memory: the totals are those of every run record
(so runs from cron on other machines count, and a restart loses nothing), and lag and
pending rows are the status report's. Names follow Prometheus conventions (base units,
``_total`` for counters); every series is labelled ``job`` and ``definition``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from services.base import RunStatus, redact
from services.console.catalog import DOWN_ERRORS, Catalog, ConsolePools
from services.console.views import DefinitionView, analytics, overview
from services.reporting import Verdicts
from services.store import history

log = logging.getLogger(__name__)
LABELS = ["job", "definition"]
# How long /metrics reuses a definition's pre-flight verdict (services/reporting/verdicts.py).
PREFLIGHT_TTL_S = 30.0


def _gauge(name: str, documentation: str, labels: list[str] = LABELS) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


class RunRecordCollector(Collector):
    """Reads the run records and the status report when Prometheus scrapes."""

    def __init__(self, pools: ConsolePools, catalog: Catalog, default_max_lag_s: float) -> None:
        self._pools = pools
        self._catalog = catalog
        self._default_s = default_max_lag_s
        # Each scrape would check every definition's catalogs again: a verdict is kept a
        # scrape interval's while (a refused run's record makes it failing at once anyway).
        self._verdicts = Verdicts(ttl_s=PREFLIGHT_TTL_S)

    def collect(self) -> Iterable[Metric]:
        up = _gauge("tablesync_console_up", "1 when the last scrape could read both databases.", [])
        try:
            # The run records are read beside the status (their own connection), not after.
            with ThreadPoolExecutor(1, thread_name_prefix="metrics") as pool:
                records = pool.submit(self._records)
                views = overview(
                    self._pools, self._catalog, self._default_s, recent=0, verdicts=self._verdicts
                )
                latest, totals = records.result()
        except DOWN_ERRORS as exc:
            log.warning("metrics: cannot read the databases: %s", redact(exc))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _status_metrics(views)
        yield from _live_metrics(views)
        yield from _latest_metrics(latest)
        yield from _total_metrics(totals)

    def _records(self) -> tuple[dict[history.Pair, history.Latest], list[history.Totals]]:
        with analytics(self._pools) as conn:
            pairs = self._catalog.pairs()
            return history.latest(conn, pairs), history.totals(conn, pairs)


def _status_metrics(views: list[DefinitionView]) -> Iterator[Metric]:
    lag = _gauge(
        "tablesync_lag_seconds", "How far the exported cursor trails core (timestamp cursors)."
    )
    pending = _gauge(
        "tablesync_pending_rows",
        "Rows in core past the saved position (or the planner's estimate).",
    )
    late = _gauge(
        "tablesync_late", "1 when the definition trails core by more than its max_lag, or fails."
    )
    failing = _gauge(
        "tablesync_definition_failing",
        "1 when the last run failed or was refused, or the pre-flight check refuses it now.",
    )
    max_lag = _gauge(
        "tablesync_max_lag_seconds", "The freshness limit the console judges the definition by."
    )
    running = _gauge("tablesync_running", "1 while the newest run record says running.")
    chunks_done = _gauge(
        "tablesync_backfill_chunks_done", "Chunks done of the backfill under way (all runners)."
    )
    chunks_total = _gauge("tablesync_backfill_chunks", "Chunks of the backfill under way.")
    for view in views:
        backfill = view.status.backfill
        if backfill is not None and not backfill.finished:
            chunks_done.add_metric([view.job, view.name], backfill.done)
            chunks_total.add_metric([view.job, view.name], backfill.total)
        labels = [view.job, view.name]
        if view.status.lag_s is not None:
            lag.add_metric(labels, view.status.lag_s)
        if view.status.pending_rows is not None:
            pending.add_metric(labels, view.status.pending_rows)
        late.add_metric(labels, int(view.late))
        failing.add_metric(labels, int(view.failing))
        max_lag.add_metric(labels, view.max_lag_s)
        running.add_metric(labels, int(view.running))
    yield from (lag, pending, late, failing, max_lag, running, chunks_done, chunks_total)


def _live_metrics(views: list[DefinitionView]) -> Iterator[Metric]:
    """A follower's last cycle (services/store/followers.py) and a schedule's next run."""
    following = _gauge(
        "tablesync_following", "1 while a follower keeps the definition in step (--follow)."
    )
    cycle_at = _gauge(
        "tablesync_follower_last_cycle_timestamp_seconds",
        "When the follower's last cycle ended (Unix time).",
    )
    cycle_rows = _gauge("tablesync_follower_cycle_rows", "Rows the follower's last cycle read.")
    cycle_s = _gauge(
        "tablesync_follower_cycle_duration_seconds", "How long the follower's last cycle took."
    )
    next_run = _gauge(
        "tablesync_schedule_next_run_timestamp_seconds",
        "When the definition's schedule is next due (Unix time).",
    )
    schedule_late = _gauge(
        "tablesync_schedule_late", "1 when a due time of the schedule has not started."
    )
    for view in views:
        labels, live = [view.job, view.name], view.status.live
        follower = live.follower
        following.add_metric(labels, int(follower is not None))
        if follower is not None and follower.last_cycle_at is not None:
            cycle_at.add_metric(labels, follower.last_cycle_at.timestamp())
            cycle_rows.add_metric(labels, follower.last_cycle_rows)
            cycle_s.add_metric(labels, follower.last_cycle_s or 0.0)
        if live.schedule is not None:
            next_run.add_metric(labels, live.schedule.next_at.timestamp())
            schedule_late.add_metric(labels, int(live.schedule.late_since is not None))
    yield from (following, cycle_at, cycle_rows, cycle_s, next_run, schedule_late)


def _latest_metrics(latest: dict[tuple[str, str], history.Latest]) -> Iterator[Metric]:
    success = _gauge(
        "tablesync_last_success_timestamp_seconds",
        "When the newest succeeded run finished (Unix time).",
    )
    duration = _gauge("tablesync_run_duration_seconds", "How long the newest finished run took.")
    for (job, name), found in latest.items():
        if found.last_success_at is not None:
            success.add_metric([job, name], found.last_success_at.timestamp())
        if found.last_duration_s is not None:
            duration.add_metric([job, name], found.last_duration_s)
    yield from (success, duration)


def _total_metrics(totals: list[history.Totals]) -> Iterator[Metric]:
    # Finished runs only: a running record turns into another status, and a counter never
    # falls (runs under way are the gauge tablesync_running).
    runs = CounterMetricFamily(
        "tablesync_runs", "Finished run records by status.", labels=[*LABELS, "status"]
    )
    rows = CounterMetricFamily(
        "tablesync_rows", "Rows of every run, by outcome.", labels=[*LABELS, "outcome"]
    )
    summed: dict[tuple[str, str], dict[str, int]] = {}
    for total in totals:
        if total.status != RunStatus.RUNNING:
            runs.add_metric([total.job, total.definition, total.status], total.runs)
        into = summed.setdefault((total.job, total.definition), dict.fromkeys(history.OUTCOMES, 0))
        for outcome, count in total.rows.items():
            into[outcome] += count
    for (job, name), by_outcome in summed.items():
        for outcome, count in by_outcome.items():
            rows.add_metric([job, name, outcome], count)
    yield from (runs, rows)


def registry(pools: ConsolePools, catalog: Catalog, default_max_lag_s: float) -> CollectorRegistry:
    """A registry of the run-record collector alone (no process metrics of the console)."""
    found = CollectorRegistry(auto_describe=False)
    found.register(RunRecordCollector(pools, catalog, default_max_lag_s))
    return found
