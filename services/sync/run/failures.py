"""The row at fault and its error, kept as JSON for the operator."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from services.base import RowError, ids_from_text, named_key, redact
from services.store import SyncPlan

log = logging.getLogger(__name__)


def _default(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    # orjson refuses a time with a time zone (a timetz column) outright instead of calling
    # here, so every date and time comes here and is written as orjson would (ISO 8601).
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def write_failure_file(
    definition: str,
    *,
    error: str,
    row: dict[str, Any] | None,
    key: dict[str, Any],
    base: Path,
) -> Path:
    """Write ``<base>/<definition>/<timestamp>.json`` and return its path (``base``:
    TABLESYNC_FAILURES_DIR, services/base/run_settings.py)."""
    folder = base / definition.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() // 1000 % 10**6:06d}"
    payload = {"definition": definition, "error": redact(error), "key": key, "row": row}
    text = orjson.dumps(
        payload,
        default=_default,
        option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME,
    )
    for attempt in range(100):
        path = folder / (f"{stamp}.json" if attempt == 0 else f"{stamp}-{attempt}.json")
        try:
            with path.open("x") as out:  # never overwrite another run's file
                out.write(redact(text.decode()))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free failure file name in {folder}")


_SAVED_TO = re.compile(r"\(row saved to (?P<path>[^()]+\.json)\)")


def failure_file_of(error_text: str | None, *, base: Path) -> Path | None:
    """The failure file a run record's error text names, if it lies in the failures folder.

    Anything outside ``base`` (the failures folder) is refused: the text comes from a
    database, and the console must not be talked into reading any file it names.
    """
    found = _SAVED_TO.search(error_text or "")
    if found is None:
        return None
    root = base.resolve()
    path = Path(found["path"]).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def read_failure_file(path: Path) -> dict[str, Any] | None:
    """A failure file's content (definition, error, key, row), or None when unreadable."""
    try:
        loaded = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        log.warning("could not read the failure file %s: %s", path, redact(exc))
        return None
    return loaded if isinstance(loaded, dict) else None


def source_row(
    conn: psycopg.Connection[Any], plan: SyncPlan, cursor_value: Any, row_id: Any
) -> dict[str, Any] | None:
    """The selected source columns of the row at (cursor_value, row_id), or None."""
    where = [
        sql.SQL("{} = CAST({} AS {})").format(
            sql.Identifier(plan.cursor.name),
            sql.Literal(cursor_value),
            sql.SQL(plan.cursor.type_name),
        )
    ]
    ids = ids_from_text(row_id, len(plan.cursor_ids))
    for column, value in zip(plan.cursor_ids, ids, strict=False):
        where.append(
            sql.SQL("{} = CAST({} AS {})").format(
                sql.Identifier(column.name), sql.Literal(value), sql.SQL(column.type_name)
            )
        )
    # With a select, the source row as core holds it: its expressions are the run's, and
    # this session reads nothing but the row.
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in plan.selected)
    query = sql.SQL("SELECT {} FROM {} WHERE {} LIMIT 1").format(
        sql.SQL("*") if plan.expressions is not None else columns,
        sql.Identifier(plan.source.schema, plan.source.name),
        sql.SQL(" AND ").join(where),
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query).fetchone()


def save_failed_row(
    core: ConnectionPool, plan: SyncPlan, error: RowError, message: str, *, base: Path
) -> Path | None:
    """Write the failure file of ``error`` (the source row looked up again when the
    error came without it); None, with a warning, when it cannot be written."""
    row = error.row
    if row is None and error.cursor_value is not None:
        try:
            with core.connection() as conn:
                row = source_row(conn, plan, error.cursor_value, error.row_id)
        except psycopg.Error as exc:
            log.warning("could not read the failed row again: %s", redact(exc))
    ids = ids_from_text(error.row_id, len(plan.cursor_ids))
    key = named_key(plan.cursor.name, plan.id_names, error.cursor_value, ids or None)
    try:
        return write_failure_file(plan.name, error=message, row=row, key=key, base=base)
    except OSError as exc:
        log.warning("could not save the failed row of %s: %s", plan.name, redact(exc))
        return None
