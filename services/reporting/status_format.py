"""How the status view reads: a table for people, JSON for machines; every string redacted."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.base import format_duration, redact
from services.reporting.live import ScheduleState
from services.reporting.report import NO_POSITION, format_position, json_bytes
from services.reporting.status import DefinitionStatus, StatusReport
from services.store import FollowerSession, LastRun, Progress

HEADERS = (
    "DEFINITION",
    "STATE",
    "LAST RUN",
    "WHEN",
    "ROWS",
    "DURATION",
    "POSITION",
    "PENDING",
    "COUNTED",
    "LAG",
)
NONE = "-"


def lag_text(status: DefinitionStatus) -> str:
    """``2h05m`` for a timestamp cursor, ``1,234 behind`` for a numeric one, ``-`` unknown."""
    if status.problem is not None:
        return NONE
    if status.core_newest is None:
        return "0s" if status.cursor_kind == "timestamp" else "0"
    if status.never_exported:
        return "never exported"
    if status.lag_s is not None:
        return format_duration(status.lag_s)
    if status.lag_value is not None:
        return f"{status.lag_value} behind"
    return "behind" if status.pending_rows else "0"


def _when(run: LastRun, now: dt.datetime) -> str:
    at = run.finished_at or run.started_at
    age = format_duration((now - at).total_seconds())
    return f"{at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}Z ({age} ago)"


def _duration(run: LastRun) -> str:
    seconds = run.duration_s
    if seconds is None:
        return NONE
    return f"{seconds:.2f}s" if seconds < 60 else format_duration(seconds)


def _rows(run: LastRun) -> str:
    """Rows read by the last run, and the rows it deleted when it deleted any."""
    deleted = f" ({run.rows_deleted:,} deleted)" if run.rows_deleted else ""
    return f"{run.rows_read:,}{deleted}"


def _row(status: DefinitionStatus, now: dt.datetime) -> list[str]:
    run = status.last_run
    pending = NONE if status.pending_rows is None else f"{status.pending_rows:,}"
    if status.pending_counted == "estimate":
        pending = "~" + pending
    return [
        status.definition,
        status.state,
        run.status if run else "never run",
        _when(run, now) if run else NONE,
        _rows(run) if run else NONE,
        _duration(run) if run else NONE,
        format_position(status.position_dict()) if status.position else NO_POSITION,
        pending,
        status.pending_counted or NONE,
        lag_text(status),
    ]


def status_table(report: StatusReport, *, now: dt.datetime | None = None) -> str:
    """The report as an aligned text table, then one line per problem or stale definition."""
    now = now or dt.datetime.now(dt.UTC)
    rows = [list(HEADERS), *(_row(s, now) for s in report.definitions)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    for status in report.definitions:
        done = status.backfill
        if done is not None and not done.finished:
            lines.append(
                f"backfill: {status.definition}: {done.done:,}/{done.total:,} chunk(s) done,"
                f" {done.rows:,} row(s) so far"
            )
        lines.extend(live_lines(status, now))
        if status.failing_reason is not None:
            lines.append(f"failing: {status.definition}: {status.failing_reason}")
        elif status.stale_reason is not None:
            lines.append(f"stale: {status.definition}: {status.stale_reason}")
        elif status.problem is not None:
            lines.append(f"problem: {status.definition}: {status.problem}")
    return redact("\n".join(lines))


def live_lines(status: DefinitionStatus, now: dt.datetime) -> list[str]:
    """A line for a follower keeping the definition in step, and one for its schedule."""
    lines = []
    follower, schedule = status.live.follower, status.live.schedule
    if follower is not None:
        lines.append(f"following: {status.definition}: {follower_text(follower, now)}")
    if schedule is not None:
        lines.append(f"schedule: {status.definition}: {schedule_text(schedule)}")
    return lines


def follower_text(follower: FollowerSession, now: dt.datetime) -> str:
    """``every 1s, last cycle 12 row(s) in 14 ms, 1s ago (pid 42 on host)``."""
    every = format_duration(follower.every_s) if follower.every_s >= 1 else f"{follower.every_s:g}s"
    text = f"every {every}"
    if follower.state == "retrying":
        text += f", retrying: {follower.error or 'the last cycle failed'}"
    elif follower.last_cycle_at is not None and follower.last_cycle_s is not None:
        ago = format_duration((now - follower.last_cycle_at).total_seconds())
        ms = follower.last_cycle_s * 1000
        text += f", last cycle {follower.last_cycle_rows:,} row(s) in {ms:.0f} ms, {ago} ago"
    return f"{text} (pid {follower.pid} on {follower.host})"


def schedule_text(schedule: ScheduleState) -> str:
    """``every 5m, next 2026-12-06 10:05:00Z`` and, when one was missed, ``late since ...``."""
    text = f"{schedule.text}, next {_utc(schedule.next_at)}"
    if schedule.late_since is not None:
        text += f"; late: due {_utc(schedule.late_since)}, not started"
    return text


def _utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# What --json shows of a follower session and of the last run, in this order.
_FOLLOWER_FIELDS = (
    "state",
    "every_s",
    "host",
    "pid",
    "started_at",
    "cycles",
    "last_cycle_at",
    "last_cycle_rows",
    "last_cycle_s",
    "rows_read",
    "error",
)
_LAST_RUN_FIELDS = (
    "id",
    "status",
    "started_at",
    "finished_at",
    "rows_read",
    "rows_deleted",
    "duration_s",
    "error",
)


def _fields(record: object | None, names: tuple[str, ...]) -> dict[str, Any] | None:
    """``record``'s attributes ``names`` as a dict in that order; None for no record."""
    if record is None:
        return None
    return {name: getattr(record, name) for name in names}


def _last_run_dict(run: LastRun | None) -> dict[str, Any] | None:
    shown = _fields(run, _LAST_RUN_FIELDS)
    if shown is not None and shown["duration_s"] is not None:
        shown["duration_s"] = round(shown["duration_s"], 3)
    return shown


def status_dict(status: DefinitionStatus, *, checked: bool) -> dict[str, Any]:
    """One definition's status for ``--json``; ``stale`` is null unless ``--max-lag`` was given."""
    return {
        "job": status.job,
        "definition": status.definition,
        "cursor": {
            "field": status.cursor_field,
            "id_field": status.id_field,
            "kind": status.cursor_kind,
        },
        "state": status.state,
        "failing": status.failing_reason is not None,
        "failing_reason": status.failing_reason,
        "refusal": status.refusal,
        "last_run": _last_run_dict(status.last_run),
        "position": None if status.position is None else status.position.to_dict(),
        "core_newest": status.core_newest,
        "pending_rows": status.pending_rows,
        "pending_counted": status.pending_counted,
        "lag_s": status.lag_s,
        "lag_value": status.lag_value,
        "lag": lag_text(status),
        "stale": (status.stale_reason is not None) if checked else None,
        "stale_reason": status.stale_reason,
        "problem": status.problem,
        "backfill": None if status.backfill is None else _backfill_dict(status.backfill),
        "follower": _fields(status.live.follower, _FOLLOWER_FIELDS),
        "schedule": None if status.live.schedule is None else status.live.schedule.as_dict(),
    }


def _backfill_dict(progress: Progress) -> dict[str, Any]:
    return {
        "chunks_done": progress.done,
        "chunks_total": progress.total,
        "rows": progress.rows,
        "finished": progress.finished,
    }


def status_json(report: StatusReport) -> bytes:
    """The report as a JSON array, one object per definition, redacted."""
    checked = report.max_lag_s is not None
    return json_bytes([status_dict(s, checked=checked) for s in report.definitions])
