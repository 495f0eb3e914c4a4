"""How a run reads on the console and as JSON for machines.

Every string these functions return has passed through ``redact``, so a
driver error that echoes a connection string cannot leak its password.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Mapping
from typing import Any

import orjson

from services.base import RunResult, RunStatus, redact

NO_POSITION = "(start)"
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
# PostgreSQL's text form of a timestamptz (a cursor value, a position): "2026-12-06
# 05:05:37.315234+00". JSON shows it as RFC 3339 in UTC, like every other time.
_PG_TIMESTAMPTZ = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d){0,2}")


def format_value(value: Any) -> str:
    """One cursor or id value as text: ISO 8601 for dates and times, ``str`` otherwise."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if value is None:
        return "null"
    return str(value)


def format_position(position: Mapping[str, Any] | None) -> str:
    """A saved position as ``field=value`` pairs in their order, or ``(start)`` when none.

    The position dict is whatever the engine saved (e.g. ``{"updatedAt": ..., "id": ...}``);
    nothing about its keys is assumed.
    """
    if not position:
        return NO_POSITION
    return redact(" ".join(f"{key}={format_value(value)}" for key, value in position.items()))


def format_batch(batch: Mapping[str, Any] | None) -> str:
    """A failed batch's description (e.g. its cursor range) as ``key: value`` pairs.

    Values that are dicts are rendered as positions, so ``{"after": {...}, "through": {...}}``
    reads ``after: updatedAt=... id=..., through: updatedAt=... id=...``.
    """
    if not batch:
        return "(unknown)"
    parts = []
    for key, value in batch.items():
        shown = format_position(value) if isinstance(value, Mapping) else format_value(value)
        parts.append(f"{key}: {shown}")
    return redact(", ".join(parts))


def first_line(text: str | None) -> str:
    """The first non-empty line of an error text, redacted; ``""`` when there is none."""
    for line in (text or "").splitlines():
        if line.strip():
            return redact(line.strip())
    return ""


def resume_command(job: str, definition: str) -> str:
    """The command that runs ``definition`` again from its saved position."""
    return shlex.join(["python", "run_job.py", job, definition])


def counts_text(result: RunResult) -> str:
    """``read 20,000, created 17,950, updated 0, skipped 2,050, errors 0`` (+ null cursor).

    ``deleted N`` follows ``updated`` when the run deleted rows, so the lines of
    definitions that never delete read as they always did.
    """
    c = result.counts
    deleted = f"deleted {c.deleted:,}, " if c.deleted else ""
    text = (
        f"read {c.read:,}, created {c.created:,}, updated {c.updated:,}, {deleted}"
        f"skipped {c.skipped:,}, errors {c.errors:,}"
    )
    # Rows with a NULL cursor are never exported (docs/guarantees.md, guarantee 5); say so
    # only when it matters.
    if c.null_cursor > 0:
        text += f", null cursor {c.null_cursor:,} (not exported)"
    return text


def summary_line(result: RunResult) -> str:
    """One human line for one definition run, redacted.

    ``StatEvent: succeeded — read 20,000, created 17,950, updated 0, skipped 2,050, errors 0
    · 41,200 rows/s · 0.49 s · position updatedAt=... id=...``; a failure ends with
    ``· error: <first line of the error>``, a held-back position with ``· held back: <why>``.
    """
    parts = [
        f"{result.definition}: {result.status} — {counts_text(result)}",
        f"{result.rows_per_s:,.0f} rows/s",
        f"{result.duration_s:.2f} s",
        f"position {format_position(result.shown_position)}",
    ]
    if result.held_back:
        parts.append(f"held back: {result.held_back}")
    # A stop's own line (error: ... stopped by SIGINT ...) follows on stderr: not twice.
    if result.status == RunStatus.FAILED or (result.error and result.status != RunStatus.CANCELLED):
        parts.append(f"error: {first_line(result.error) or 'unknown error'}")
    if result.failure_file and result.failure_file not in (result.error or ""):
        parts.append(f"failed row saved to {result.failure_file}")
    return redact(" · ".join(parts))


def redact_tree(value: Any) -> Any:
    """``value`` with every string inside it redacted (keys kept: they are field names).

    Also turns integers beyond 64 bits into strings, which orjson cannot write.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(item) for item in value]
    if isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
        return str(value)  # orjson refuses integers beyond 64 bits (a numeric(30) cursor)
    return value


def rfc3339(value: dt.datetime) -> str:
    """``2026-12-06T05:05:37.315234Z``: the instant in UTC (a naive one is taken as UTC)."""
    at = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def utc_times(value: Any) -> Any:
    """``value`` with PostgreSQL's text form of a timestamptz, wherever a string is one
    whole, turned into RFC 3339 UTC (``rfc3339``); everything else as it was."""
    if isinstance(value, str):
        if _PG_TIMESTAMPTZ.fullmatch(value):
            return rfc3339(dt.datetime.fromisoformat(value))
        return value
    if isinstance(value, Mapping):
        return {key: utc_times(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [utc_times(item) for item in value]
    return value


def _default(value: Any) -> str:
    # orjson handles UUID, enums and dataclasses itself; anything else a cursor may hold
    # (Decimal, bytes, intervals...) becomes its text rather than an exception.
    if isinstance(value, dt.datetime):  # passed through to here: RFC 3339 UTC, "Z"
        return rfc3339(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return redact(str(value))


def json_bytes(payload: Any) -> bytes:
    """``payload`` as JSON, every string redacted, no trailing newline.

    Every time is RFC 3339 in UTC with ``Z`` (datetimes, and strings that are
    PostgreSQL's text of a timestamptz, such as a position's cursor value); UUIDs and
    Decimals are strings; it never fails on a value type.
    """
    return orjson.dumps(
        utc_times(redact_tree(payload)),
        default=_default,
        option=orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME,
    )


def results_json(results: list[RunResult]) -> bytes:
    """The runs as a JSON array of ``RunResult.to_dict()`` objects (see ``json_bytes``)."""
    return json_bytes([result.to_dict() for result in results])
