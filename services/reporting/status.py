"""The status view: where each definition stands, read without writing or locking anything.

For each definition: its last run record, its saved position, the rows in core past that
position (an exact count when the planner expects few of them, else the planner's
estimate, and the view says which), and its lag: how far the newest exported cursor value
trails the newest cursor value in core (a duration for timestamp cursors, a difference for
numeric ones). ``--max-lag`` turns the view into a freshness check.

Each definition is also checked as a run would check it before writing (the catalogs
only, no table scanned), so a break (a destination column dropped by hand) shows before
the next run. A definition whose last run failed, or that this check refuses, is
failing (contract rule 18): never fresh, whatever its lag.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg import sql

from services.base import (
    RUNNER_SCHEMA,
    Databases,
    ExportDefinition,
    JobFailedError,
    Position,
    PreflightError,
    RunError,
    TablesyncError,
    Watermark,
    format_duration,
    load_position,
    named_key,
    redact,
)
from services.reporting.live import Live, live_states
from services.reporting.notify import SlackSettings, notify_alert
from services.reporting.report import first_line
from services.reporting.verdicts import Verdicts
from services.store import (
    COUNT_MAX_ROWS,
    COUNT_TIMEOUT_MS,
    CopyMode,
    Counted,
    KnownTables,
    LastRun,
    Progress,
    SyncPlan,
    Table,
    chunks,
    count_rows,
    last_run,
    newest_cursor,
    plan_definition,
    relation_exists,
)
from services.store import sql as q

Conn = psycopg.Connection[Any]
CursorKind = Literal["timestamp", "numeric", "other"]

# When pending rows are counted rather than estimated (see store.estimate.count_rows).
EXACT_COUNT_MAX_ROWS = COUNT_MAX_ROWS
EXACT_COUNT_TIMEOUT_MS = COUNT_TIMEOUT_MS
_NUMERIC_TYPES = {"smallint", "integer", "bigint", "numeric", "real", "double precision"}
# A last run in one of these makes its definition failing (an abandoned run died mid-way).
FAILING_RUN_STATUSES = ("failed", "abandoned")
State = Literal["failing", "late", "following", "running", "never run", "ok"]


@dataclass
class DefinitionStatus:
    """Where one definition stands; ``problem`` says why a figure could not be read."""

    job: str
    definition: str
    cursor_field: str
    id_field: str | list[str] | None
    cursor_kind: CursorKind = "other"
    last_run: LastRun | None = None
    position: Position | None = None
    core_newest: str | None = None
    pending_rows: int | None = None
    pending_counted: Counted | None = None
    lag_s: float | None = None  # timestamp cursors
    lag_value: str | None = None  # numeric cursors: newest in core minus newest exported
    problem: str | None = None
    stale_reason: str | None = field(default=None)
    backfill: Progress | None = None  # its latest backfill (services/sync/backfill/plan.py)
    # What a run's pre-flight check would refuse now (every problem, one line), if anything.
    refusal: str | None = None
    # A follower keeping it in step now, and its schedule (services/reporting/live.py).
    live: Live = field(default_factory=Live)

    @property
    def failing_reason(self) -> str | None:
        """Why the definition is failing: what its pre-flight check refuses now, else its
        last run's error when that run failed (or was refused, or died); None when not."""
        if self.refusal is not None:
            return f"refused before writing: {self.refusal}"
        run = self.last_run
        if run is not None and run.status in FAILING_RUN_STATUSES:
            # Errors start with the definition's name, which every place showing this has;
            # the failure file's path is the run's page's to give.
            error = first_line(run.error).removeprefix(f"{self.definition}: ")
            error = error.split(" (row saved to ", 1)[0]
            return f"its last run {run.status}: {error or 'no error text'}"
        return None

    @property
    def state(self) -> State:
        """One word for the definition: failing outranks late, late outranks following,
        following outranks running."""
        if self.failing_reason is not None:
            return "failing"
        if self.stale_reason is not None:
            return "late"
        if self.live.follower is not None:
            return "following"
        if self.last_run is None:
            return "never run"
        return "running" if self.last_run.status == "running" else "ok"

    @property
    def never_exported(self) -> bool:
        return self.position is None and self.core_newest is not None

    def position_dict(self) -> dict[str, Any] | None:
        """The position keyed by column name, e.g. ``{"updatedAt": ..., "id": ...}``."""
        if self.position is None:
            return None
        ids = self.position.ids or None
        return named_key(self.cursor_field, self.id_field, self.position.value, ids)


@dataclass
class StatusReport:
    """The status of the requested definitions, checked against ``max_lag_s`` when given."""

    job: str
    definitions: list[DefinitionStatus]
    max_lag_s: float | None = None

    @property
    def stale(self) -> list[DefinitionStatus]:
        return [d for d in self.definitions if d.stale_reason is not None]

    def raise_if_stale(self) -> None:
        """JobFailedError (exit 1), one RunError per stale definition; nothing when fresh."""
        errors: list[TablesyncError] = [
            RunError(f"{d.definition}: {d.stale_reason}") for d in self.stale
        ]
        if errors:
            raise JobFailedError(errors)


def status_report(
    job: str,
    definitions: Mapping[str, ExportDefinition],
    dbs: Databases,
    *,
    max_lag_s: float | None = None,
    slack: SlackSettings | None = None,
    verdicts: Verdicts | None = None,
) -> StatusReport:
    """The status of ``definitions``; with ``max_lag_s``, stale ones marked and alerted once.

    The Slack alert (one message listing every stale definition) never raises: Slack
    trouble is a warning. Call ``raise_if_stale`` on the result for the exit code.
    ``verdicts``: pre-flight verdicts to reuse while fresh (services/reporting/verdicts.py).
    """
    found = collect_status(job, definitions, dbs, verdicts=verdicts)
    report = StatusReport(job, found, max_lag_s)
    if max_lag_s is not None:
        check_freshness(report.definitions, max_lag_s)
        if report.stale:
            notify_alert(alert_title(report), alert_lines(report), slack)
    return report


# -- reading ------------------------------------------------------------------------------


def collect_status(
    job: str,
    definitions: Mapping[str, ExportDefinition],
    dbs: Databases,
    *,
    verdicts: Verdicts | None = None,
) -> list[DefinitionStatus]:
    """The status of each of ``definitions``, in order; reads both databases, writes nothing.

    Takes no lock, so it answers while a run is busy. A definition whose figures cannot be
    read (its core table is gone, say) gets a ``problem`` instead of failing the others.
    Raises PreflightError when the runner's tables are not migrated.
    """
    with (
        dbs.analytics.connection() as analytics,
        dbs.core.connection() as core,
        _read_only(analytics),
    ):
        # Autocommit: no core snapshot is held open while the definitions are read.
        core.autocommit = True
        _check_runner_tables(analytics)
        known = _known_tables(job, definitions, core, analytics, verdicts)
        statuses = [
            _definition_status(
                job, name, definition, core=core, analytics=analytics, verdicts=verdicts,
                known=known,
            )
            for name, definition in definitions.items()
        ]  # fmt: skip
        if relation_exists(analytics, RUNNER_SCHEMA, "backfills"):  # else: not migrated yet
            for status in statuses:
                status.backfill = chunks.progress(analytics, job, status.definition)
        lives = live_states(analytics, job, definitions, dt.datetime.now(dt.UTC))
        for status in statuses:
            status.live = lives[status.definition]
        return statuses


@contextmanager
def _read_only(conn: Conn) -> Iterator[None]:
    """Autocommit, with every statement in a read-only transaction, restored afterwards."""
    conn.autocommit = True
    conn.execute("SET default_transaction_read_only = on")
    try:
        yield
    finally:
        if not conn.broken:
            conn.execute("RESET default_transaction_read_only")


def _check_runner_tables(analytics: Conn) -> None:
    missing = [t for t in ("positions", "runs") if not relation_exists(analytics, RUNNER_SCHEMA, t)]
    if missing:
        raise PreflightError(
            f"analytics is not migrated: table {RUNNER_SCHEMA}.{missing[0]} does not exist;"
            " run `dbmate --env DATABASE_URL_ANALYTICS up`"
        )


def _known_tables(
    job: str,
    definitions: Mapping[str, ExportDefinition],
    core: Conn,
    analytics: Conn,
    verdicts: Verdicts | None,
) -> KnownTables:
    """Every source table, and the destinations of the definitions whose verdict is not
    fresh, read at once (a page of 50 definitions: four queries, not 50 times six). When
    that fails, each definition reads its own and reports its own problem."""
    unchecked = [
        d for n, d in definitions.items() if verdicts is None or not verdicts.fresh(job, n)
    ]
    try:
        return KnownTables.read(
            core, analytics, sources=definitions.values(), destinations=unchecked
        )
    except psycopg.Error:
        return KnownTables()


def _definition_status(
    job: str,
    name: str,
    definition: ExportDefinition,
    *,
    core: Conn,
    analytics: Conn,
    verdicts: Verdicts | None = None,
    known: KnownTables | None = None,
) -> DefinitionStatus:
    cursor = definition.source.cursor
    status = DefinitionStatus(job, name, cursor_field=cursor.field, id_field=cursor.id_field)
    try:
        status.last_run = last_run(analytics, job, name)
        status.position = load_position(analytics, job, name)
        plan = _checked_plan(
            job, name, definition, core=core, analytics=analytics, status=status,
            verdicts=verdicts, known=known or KnownTables(),
        )  # fmt: skip
        status.cursor_kind = _cursor_kind(plan)
        status.core_newest = newest_cursor(core, plan)
        status.pending_rows, status.pending_counted = pending_rows(
            core, plan, status.position, status.core_newest
        )
        _fill_lag(core, plan, status)
    except (psycopg.Error, PreflightError) as exc:
        status.problem = redact(first_line(str(exc)) or type(exc).__name__)
    return status


def _checked_plan(
    job: str,
    name: str,
    definition: ExportDefinition,
    *,
    core: Conn,
    analytics: Conn,
    status: DefinitionStatus,
    verdicts: Verdicts | None,
    known: KnownTables,
) -> SyncPlan:
    """The run's own pre-flight check (catalogs only); what it refuses goes on ``status``,
    and the figures are then read on a plan of the source alone. A verdict ``verdicts``
    still holds is taken instead of checking again (services/reporting/verdicts.py)."""
    verdict = None if verdicts is None else verdicts.fresh(job, name)
    if verdict is not None:
        status.refusal = verdict.refusal
        return _source_plan(job, name, definition, known.source(core, definition))
    plan: SyncPlan | None = None
    try:
        plan = plan_definition(job, name, definition, core=core, analytics=analytics,
                               runner_tables=False, known=known)  # fmt: skip
    except PreflightError as exc:
        named = [p.removeprefix(f"{name}: ") for p in exc.problems]
        status.refusal = redact("; ".join(named))
    if verdicts is not None:
        verdicts.keep(job, name, status.refusal)
    if plan is None:  # refused: the figures are still read, on the source alone
        plan = _source_plan(job, name, definition, known.source(core, definition))
    return plan


def _source_plan(
    job: str, name: str, definition: ExportDefinition, source: Table | None
) -> SyncPlan:
    """A plan for reading the source only: enough for services.store.sql's window predicate."""
    src = definition.source
    if source is None:
        raise PreflightError(f"core table {src.schema_}.{src.table} does not exist")
    wanted = [src.cursor.field, *src.cursor.id_fields]
    missing = [c for c in wanted if c not in source.columns]
    if missing:
        raise PreflightError(f"core table {source.qualified} has no column {missing[0]!r}")
    # The destination is not consulted: the status view reads positions, not rows.
    return SyncPlan(job, name, definition, source, source, wanted, CopyMode.BINARY)


def _cursor_kind(plan: SyncPlan) -> CursorKind:
    if plan.cursor.is_timestamp:
        return "timestamp"
    return "numeric" if plan.cursor.base_type in _NUMERIC_TYPES else "other"


def pending_rows(
    core: Conn, plan: SyncPlan, position: Position | None, newest: str | None
) -> tuple[int, Counted]:
    """Rows in core past ``position``: counted when the planner expects few, else estimated."""
    if newest is None:
        return 0, "exact"
    # The run's own window, bounded by the newest value instead of a watermark, so
    # "pending" means exactly the rows a run would still read.
    mark = Watermark(value=newest, inclusive=True)
    window = q.Window(lower=position, upper=None, watermark=mark)
    return count_rows(
        core, plan, window, max_rows=EXACT_COUNT_MAX_ROWS, timeout_ms=EXACT_COUNT_TIMEOUT_MS
    )


def _fill_lag(core: Conn, plan: SyncPlan, status: DefinitionStatus) -> None:
    """Set ``lag_s`` (timestamps) or ``lag_value`` (numbers) when both ends are known."""
    newest, position = status.core_newest, status.position
    if newest is None or position is None or status.cursor_kind == "other":
        return
    type_sql = sql.SQL(plan.cursor.type_name)
    if status.cursor_kind == "timestamp":
        # Through timestamptz so that date cursors give seconds too (date - date is days).
        query = sql.SQL(
            "SELECT greatest(extract(epoch FROM CAST(%s AS {t})::timestamptz"
            " - CAST(%s AS {t})::timestamptz), 0)::float8"
        ).format(t=type_sql)
    else:
        query = sql.SQL("SELECT greatest(CAST(%s AS {t}) - CAST(%s AS {t}), 0)::text").format(
            t=type_sql
        )
    row = core.execute(query, (newest, position.value)).fetchone()
    if row is None:
        return
    if status.cursor_kind == "timestamp":
        status.lag_s = float(row[0])
    else:
        status.lag_value = str(row[0])


# -- freshness ----------------------------------------------------------------------------


def check_freshness(statuses: list[DefinitionStatus], max_lag_s: float) -> None:
    """Set ``stale_reason`` on each definition that trails core by more than ``max_lag_s``.

    A definition whose lag cannot be read, or that was never exported while core has rows,
    is stale too: a monitor must not stay quiet about what it cannot see. Numeric and other
    non-time cursors have no lag in time; only their problems make them stale.
    """
    limit = format_duration(max_lag_s)
    for status in statuses:
        if status.failing_reason is not None:  # never fresh, whatever its lag (rule 18)
            status.stale_reason = f"failing: {status.failing_reason}"
        elif status.problem is not None:
            status.stale_reason = f"cannot tell its lag: {status.problem}"
        elif status.cursor_kind != "timestamp":
            continue
        elif status.never_exported:
            status.stale_reason = (
                f"never exported; {status.pending_rows:,} row(s) waiting in core (max lag {limit})"
            )
        elif status.lag_s is not None and status.lag_s > max_lag_s:
            status.stale_reason = (
                f"trails core by {format_duration(status.lag_s)} (max lag {limit});"
                f" {status.pending_rows:,} row(s) pending"
            )


def alert_lines(report: StatusReport) -> list[str]:
    """One line per stale definition, for the Slack alert."""
    return [f"{d.definition}: {d.stale_reason}" for d in report.stale]


def alert_title(report: StatusReport) -> str:
    limit = format_duration(report.max_lag_s or 0)
    failing = sum(d.state == "failing" for d in report.stale)
    behind = len(report.stale) - failing
    parts = [f"{failing} definition(s) failing"] if failing else []
    if behind or not failing:
        parts.append(f"{behind} definition(s) behind by more than {limit}")
    return f"tablesync {report.job}: {', '.join(parts)}"
