"""What each page and API route shows, put together from the CLI's own functions.

The status is ``status_report`` (as ``--status`` reads it), freshness is its
``check_freshness`` against each definition's limit, and runs come from
``services.store.history``. Nothing here writes, locks or composes SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg

from services.base import Databases, ExportDefinition, RunStatus
from services.console.catalog import Catalog, ConsolePools, definition_settings, max_lag_s
from services.console.charts import Chart, run_chart
from services.reporting import (
    Advice,
    DefinitionStatus,
    Verdicts,
    advise,
    check_freshness,
    resume_command,
    status_dict,
    status_report,
)
from services.store import RunFilter, RunRecord, Table, find_table, history
from services.sync import failure_file_of, read_failure_file

Conn = psycopg.Connection[Any]
RECENT_RUNS = 20
# Definitions' statuses read at once; each holds a core and an analytics connection, and
# the console's pools hold 4 of each (one left for the run records).
STATUS_THREADS = 3
# Every status a run record can have ("cancelled": a run stopped by SIGTERM or SIGINT).
RUN_STATUSES = tuple(dict.fromkeys([*(s.value for s in RunStatus), "cancelled"]))
HISTORY_PAGE = 25


@dataclass
class DefinitionView:
    """One definition as the overview shows it."""

    job: str
    name: str
    status: DefinitionStatus
    max_lag_s: float
    recent: list[RunRecord] = field(default_factory=list)

    @property
    def late(self) -> bool:
        """Not fresh: behind its max_lag, or failing (never "on time", rule 18)."""
        return self.status.stale_reason is not None

    @property
    def failing_reason(self) -> str | None:
        """Why the definition is failing (rule 18), in one line; None when it is not: the
        status view's, so --status, the API and every page say the same."""
        return self.status.failing_reason

    @property
    def failing(self) -> bool:
        """Failing is red everywhere and never "on time", whatever the lag."""
        return self.failing_reason is not None

    @property
    def state(self) -> str:
        """failing, late, running, never run or ok (services/reporting/status.py)."""
        return self.status.state

    @property
    def running(self) -> bool:
        run = self.status.last_run
        return run is not None and run.status == "running"

    def recent_chart(self) -> Chart:
        """The overview's small chart: rows read by each recent run."""
        return rows_chart(self.recent, compact=True)

    def as_dict(self) -> dict[str, Any]:
        """``--status --json``'s fields, with the freshness limit the verdict used."""
        return {**status_dict(self.status, checked=True), "max_lag_s": self.max_lag_s}


@contextmanager
def analytics(pools: ConsolePools) -> Iterator[Conn]:
    """An autocommit analytics connection from the console's pool."""
    with pools.databases() as dbs, dbs.analytics.connection() as conn:
        conn.autocommit = True
        yield conn


def _statuses(
    dbs: Databases,
    job: str,
    definitions: dict[str, ExportDefinition],
    default_s: float,
    verdicts: Verdicts | None = None,
) -> list[DefinitionView]:
    report = status_report(job, definitions, dbs, verdicts=verdicts)
    views = []
    for status in report.definitions:
        limit = max_lag_s(definitions[status.definition], default_s)
        check_freshness([status], limit)  # each definition against its own limit
        views.append(DefinitionView(job, status.definition, status, limit))
    return views


def _chunks(
    definitions: dict[str, ExportDefinition], count: int
) -> list[dict[str, ExportDefinition]]:
    names = list(definitions)
    size = max(-(-len(names) // count), 1)
    return [{n: definitions[n] for n in names[i : i + size]} for i in range(0, len(names), size)]


def all_statuses(
    dbs: Databases, catalog: Catalog, default_s: float, verdicts: Verdicts | None = None
) -> list[DefinitionView]:
    """Every definition's status, in catalog order, read STATUS_THREADS definitions at a time:
    each status is a few short queries, so most of its time is waiting on the servers.
    ``verdicts``: pre-flight verdicts reused while fresh (/metrics); pages check each time."""
    chunks = [
        (job, chunk)
        for job, definitions in catalog.jobs.items()
        for chunk in _chunks(definitions, STATUS_THREADS)
    ]
    if len(chunks) <= 1:
        return [v for job, chunk in chunks for v in _statuses(dbs, job, chunk, default_s, verdicts)]
    with ThreadPoolExecutor(STATUS_THREADS, thread_name_prefix="status") as pool:
        found = pool.map(lambda item: _statuses(dbs, item[0], item[1], default_s, verdicts), chunks)
        return [view for views in found for view in views]


def overview(
    pools: ConsolePools,
    catalog: Catalog,
    default_s: float,
    *,
    recent: int = RECENT_RUNS,
    verdicts: Verdicts | None = None,
) -> list[DefinitionView]:
    """Every definition of every job with its status, verdict and ``recent`` newest runs."""
    with pools.databases() as dbs:
        views = all_statuses(dbs, catalog, default_s, verdicts)
        if recent:
            with analytics(pools) as conn:
                found = history.recent_runs(conn, catalog.pairs(), per=recent)
            for view in views:
                view.recent = found[(view.job, view.name)]
    return views


def one_definition(
    pools: ConsolePools, catalog: Catalog, job: str, name: str, default_s: float
) -> DefinitionView:
    definition = catalog.jobs[job][name]
    with pools.databases() as dbs:
        return _statuses(dbs, job, {name: definition}, default_s)[0]


@dataclass
class DefinitionPage:
    """A definition's page: settings, status, a page of its history, failures, charts."""

    view: DefinitionView
    settings: dict[str, Any]
    runs: list[RunRecord]
    chart_runs: list[RunRecord]
    charts: list[tuple[str, Chart]]  # (caption, chart) of rows, duration and lag per run
    failures: list[Failure]
    resume: str
    page: int
    status_filter: str | None
    more: bool
    null_cursor: int = 0  # rows the newest run left out for a NULL cursor (rule 6)


def definition_page(
    pools: ConsolePools,
    catalog: Catalog,
    job: str,
    name: str,
    default_s: float,
    *,
    status: str | None,
    page: int,
    failures: Path,
) -> DefinitionPage:
    definition = catalog.jobs[job][name]
    view = one_definition(pools, catalog, job, name, default_s)
    table = destination_table(pools, definition)
    with analytics(pools) as conn:
        which = RunFilter(job=job, definition=name, status=status)
        runs = history.list_runs(conn, which, limit=HISTORY_PAGE + 1, offset=page * HISTORY_PAGE)
        chart = history.recent_runs(conn, [(job, name)], per=100)[(job, name)]
        failed = history.list_runs(
            conn, RunFilter(job=job, definition=name, status="failed"), limit=5
        )
        newest = history.list_runs(conn, RunFilter(job=job, definition=name), limit=1)
    return DefinitionPage(
        view=view,
        settings=definition_settings(definition, default_s),
        runs=runs[:HISTORY_PAGE],
        chart_runs=chart,
        charts=definition_charts(chart),
        failures=[failure_of(record, failures, table) for record in failed],
        resume=resume_command(job, name),
        page=page,
        status_filter=status,
        more=len(runs) > HISTORY_PAGE,
        null_cursor=int(newest[0].get("rows_null_cursor") or 0) if newest else 0,
    )


@dataclass(frozen=True)
class Failure:
    """A failed run's error, the row at fault when its failure file is here, and what to
    do (the column at fault, the migration, the command to rerun after it)."""

    record: RunRecord
    row_json: str | None
    file: str | None
    advice: Advice | None = None
    rerun: str = ""  # the command that runs the definition again once the cause is fixed


def destination_table(pools: ConsolePools, definition: ExportDefinition) -> Table | None:
    """The definition's destination as analytics' catalog has it now (None when gone)."""
    dst = definition.destination
    with analytics(pools) as conn:
        return find_table(conn, dst.schema_, dst.table)


def failure_of(record: RunRecord, failures: Path, table: Table | None = None) -> Failure:
    """``record``'s failure, its row read from under ``failures`` (TABLESYNC_FAILURES_DIR);
    ``table``, the destination, lets the advice name the column."""
    path = failure_file_of(record.get("error_text"), base=failures)
    content = read_failure_file(path) if path is not None else None
    row = content.get("row") if content else None
    rerun = resume_command(record["job"], record["definition"])
    advice = advise(record.get("error_text"), row if isinstance(row, dict) else None, table, rerun)
    if content is None:
        return Failure(record, None, None, advice, rerun)
    shown = {"key": content.get("key"), "row": row}
    text = orjson.dumps(shown, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    return Failure(record, text, str(path), advice, rerun)


def run_record(pools: ConsolePools, run_id: int) -> RunRecord | None:
    with analytics(pools) as conn:
        return history.get_run(conn, run_id)


def list_runs(pools: ConsolePools, which: RunFilter, *, limit: int) -> list[RunRecord]:
    with analytics(pools) as conn:
        return history.list_runs(conn, which, limit=limit)


def duration_s(record: RunRecord, now: dt.datetime | None = None) -> float:
    """How long the run took, or has been going."""
    end = record.get("finished_at") or now or dt.datetime.now(dt.UTC)
    return max(float((end - record["started_at"]).total_seconds()), 0.0)


def lag_at_end(record: RunRecord) -> float | None:
    """Seconds the position trailed the clock when a run ended (timestamp cursors only)."""
    after, finished = record.get("cursor_after") or {}, record.get("finished_at")
    value = after.get("value") if isinstance(after, dict) else None
    if finished is None or not isinstance(value, str):
        return None
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return max(float((finished - at).total_seconds()), 0.0)


def rows_chart(runs: list[RunRecord], *, compact: bool = False) -> Chart:
    label = "rows read per run, oldest to newest"
    if compact:
        return run_chart(runs, _rows, unit="rows", label=label, width=160, height=48, compact=True)
    return run_chart(runs, _rows, unit="rows", label=label)


def _rows(record: RunRecord) -> float:
    return float(record["rows_read"])


def definition_charts(runs: list[RunRecord]) -> list[tuple[str, Chart]]:
    """Rows, duration and lag of each run, as the definition page draws them."""
    return [
        ("Rows read per run", rows_chart(runs)),
        (
            "Duration of each run",
            run_chart(runs, duration_s, unit="seconds", label="duration of each run"),
        ),
        (
            "Lag when each run ended",
            run_chart(runs, lag_at_end, unit="seconds", label="lag when each run ended"),
        ),
    ]
