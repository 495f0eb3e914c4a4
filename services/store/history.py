"""Reading run records back: one run, a filtered page of them, the newest few of each
definition, and the per-definition totals that the console's metrics report.

Every query here is answered from an index on ``tablesync.runs`` (the migrations'
``(job, definition, started_at)``, ``(started_at, id)`` and covering totals indexes), so
the console stays fast on a table of years of runs; tools/bench/console.py checks it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from services.base import RUNNER_SCHEMA

Conn = psycopg.Connection[Any]
RunRecord = dict[str, Any]
Pair = tuple[str, str]

_RUNS = sql.Identifier(RUNNER_SCHEMA, "runs")
# The row counters of a run record, as ``tablesync_rows_total{outcome}`` names them.
OUTCOMES = ("read", "created", "updated", "skipped", "deleted", "errors")
MAX_PAGE = 500
# What a chart of recent runs needs of each: no error texts, positions or commands.
_CHART_COLUMNS = ("id", "status", "started_at", "finished_at", "rows_read", "cursor_after")


@dataclass(frozen=True)
class LastRun:
    """The newest run record of a definition."""

    id: int
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rows_read: int
    error: str | None
    rows_deleted: int = 0

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunFilter:
    """Which run records to list; None means any."""

    job: str | None = None
    definition: str | None = None
    status: str | None = None
    origin: str | None = None


def get_run(conn: Conn, run_id: int) -> RunRecord | None:
    """The run record ``run_id`` with every column, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            sql.SQL("SELECT * FROM {} WHERE id = %s").format(_RUNS), (run_id,)
        ).fetchone()


def list_runs(conn: Conn, which: RunFilter, *, limit: int = 50, offset: int = 0) -> list[RunRecord]:
    """Run records matching ``which``, newest first: ``limit`` (at most MAX_PAGE) of them
    from ``offset`` on."""
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    for column in ("job", "definition", "status", "origin"):
        value = getattr(which, column)
        if value is not None:
            conditions.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    query = sql.SQL(
        "SELECT * FROM {}{} ORDER BY started_at DESC, id DESC LIMIT %s OFFSET %s"
    ).format(_RUNS, where)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, [*params, min(limit, MAX_PAGE), max(offset, 0)]).fetchall()


def _per_definition(inner: sql.Composable) -> sql.Composed:
    # One index probe per definition (LATERAL), instead of one pass over every record.
    return sql.SQL(
        "SELECT d.job, d.definition, r.* FROM unnest(%s::text[], %s::text[])"
        " AS d(job, definition) CROSS JOIN LATERAL ({}) r"
    ).format(inner)


def _pair_params(pairs: Sequence[Pair]) -> list[list[str]]:
    return [[job for job, _ in pairs], [name for _, name in pairs]]


def recent_runs(conn: Conn, pairs: Sequence[Pair], *, per: int) -> dict[Pair, list[RunRecord]]:
    """The ``per`` newest runs of each of ``pairs`` (job, definition), oldest first in each."""
    query = _per_definition(
        sql.SQL(
            "SELECT {} FROM {} WHERE job = d.job AND definition = d.definition"
            " ORDER BY started_at DESC, id DESC LIMIT %s"
        ).format(sql.SQL(", ").join(map(sql.Identifier, _CHART_COLUMNS)), _RUNS)
    )
    found: dict[Pair, list[RunRecord]] = {pair: [] for pair in pairs}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(query, [*_pair_params(pairs), per]):
            found[(row.pop("job"), row.pop("definition"))].insert(0, row)
    return found


@dataclass(frozen=True)
class Latest:
    """When a definition last succeeded, and how long its newest finished run took."""

    last_success_at: dt.datetime | None
    last_duration_s: float | None


def latest(conn: Conn, pairs: Sequence[Pair]) -> dict[Pair, Latest]:
    """``Latest`` of each of ``pairs``, walking each definition's runs back from the newest."""
    query = _per_definition(
        sql.SQL(
            "SELECT (SELECT finished_at FROM {runs} WHERE job = d.job AND definition = d.definition"
            " AND status = 'succeeded' ORDER BY started_at DESC LIMIT 1) AS last_success_at,"
            " (SELECT extract(epoch FROM finished_at - started_at)::float8 FROM {runs}"
            " WHERE job = d.job AND definition = d.definition AND finished_at IS NOT NULL"
            " ORDER BY started_at DESC LIMIT 1) AS last_duration_s"
        ).format(runs=_RUNS)
    )
    rows = conn.execute(query, _pair_params(pairs)).fetchall()
    return {(job, name): Latest(success, duration) for job, name, success, duration in rows}


@dataclass(frozen=True)
class Totals:
    """Every run of one definition in one status: how many, and their row counters summed."""

    job: str
    definition: str
    status: str
    runs: int
    rows: dict[str, int]


def totals(conn: Conn, pairs: Sequence[Pair]) -> list[Totals]:
    """The totals of each of ``pairs`` by status, over every run record of it (runs started
    anywhere: cron on other machines too); read from the covering index alone."""
    sums = sql.SQL(", ").join(
        sql.SQL("coalesce(sum({}), 0)::bigint").format(sql.Identifier(f"rows_{o}"))
        for o in OUTCOMES
    )
    query = _per_definition(
        sql.SQL(
            "SELECT status, count(*) AS runs, {} FROM {}"
            " WHERE job = d.job AND definition = d.definition GROUP BY status"
        ).format(sums, _RUNS)
    )
    return [
        Totals(
            row[0], row[1], row[2], int(row[3]), dict(zip(OUTCOMES, map(int, row[4:]), strict=True))
        )
        for row in conn.execute(query, _pair_params(pairs))
    ]


def newest_run_id(conn: Conn) -> int:
    """The largest run id so far (0 for none): runs started after now have larger ones."""
    row = conn.execute(sql.SQL("SELECT coalesce(max(id), 0) FROM {}").format(_RUNS)).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Opened:
    """A run record a process opened: its id, status so far, error text and note."""

    id: int
    status: str
    error: str | None
    note: str | None


def run_started_by(
    conn: Conn, *, job: str, definition: str, host: str, pid: int, after_id: int
) -> Opened | None:
    """The run record that process ``pid`` on ``host`` opened after ``after_id``, if any."""
    row = conn.execute(
        sql.SQL(
            "SELECT id, status, error_text, note FROM {} WHERE id > %s AND job = %s"
            " AND definition = %s AND host = %s AND pid = %s ORDER BY id DESC LIMIT 1"
        ).format(_RUNS),
        (after_id, job, definition, host, pid),
    ).fetchone()
    return None if row is None else Opened(int(row[0]), row[1], row[2], row[3])


def last_run(analytics: Conn, job: str, definition: str) -> LastRun | None:
    """The newest run record of ``job``/``definition``, or None before its first run."""
    row = analytics.execute(
        sql.SQL(
            "SELECT id, status, started_at, finished_at, rows_read, error_text, rows_deleted"
            " FROM {}"
            " WHERE job = %s AND definition = %s ORDER BY started_at DESC, id DESC LIMIT 1"
        ).format(_RUNS),
        (job, definition),
    ).fetchone()
    return None if row is None else LastRun(*row)
