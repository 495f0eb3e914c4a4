"""Helpers for the engine tests: run a definition in-process, read what it wrote."""

from __future__ import annotations

import os
from typing import Any

from dbtools import TestDatabases

from services.base.constants import RUNNER_SCHEMA
from services.base.db import Databases
from services.base.definition import ExportDefinition
from services.base.results import RunResult
from services.base.run_settings import RunSettings
from services.base.settings import DatabaseUrls
from services.sync.run.process_definition import process_definition

JOB = "export-to-pg"


def definition(
    table: str,
    cursor: str,
    *,
    id_field: str | None = None,
    dest_table: str | None = None,
    keys: list[str] | None = None,
    source_schema: str = "public",
    dest_schema: str = "public",
    columns: str | list[str] = "*",
    **extra: Any,
) -> ExportDefinition:
    """An ExportDefinition with the test's defaults: same table name on both sides."""
    return ExportDefinition(
        source={
            "schema": source_schema,
            "table": table,
            "cursor": {"field": cursor, "id_field": id_field},
            "columns": columns,
        },
        destination={
            "schema": dest_schema,
            "table": dest_table or table,
            "conflict_columns": keys or ["id"],
        },
        **extra,
    )


def sync(dbs: TestDatabases, export: ExportDefinition, name: str = "t") -> RunResult:
    """Run ``export`` once in-process against the test databases."""
    urls = DatabaseUrls(core=dbs.core_url, analytics=dbs.analytics_url)
    settings = RunSettings.from_env(os.environ)  # a test's monkeypatched variables
    with Databases(urls, retry=settings.connect, timeouts=settings.timeouts) as databases:
        return process_definition(JOB, name, export, databases, settings=settings)


def on_both(dbs: TestDatabases, statement: str) -> None:
    """Run the same DDL on core and analytics (a table identical on both sides)."""
    dbs.query_core(statement)
    dbs.query_analytics(statement)


def position(dbs: TestDatabases, name: str = "t") -> tuple[Any, ...] | None:
    """The saved (cursor_value, cursor_id) of definition ``name``, or None."""
    rows = dbs.query_analytics(
        f"SELECT cursor_value, cursor_id FROM {RUNNER_SCHEMA}.positions"
        " WHERE job = %s AND definition = %s",
        (JOB, name),
    )
    return tuple(rows[0]) if rows else None


def runs(dbs: TestDatabases, name: str = "t") -> list[dict[str, Any]]:
    """Every run record of definition ``name``, oldest first, as dicts."""
    with dbs.analytics() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT * FROM tablesync.runs WHERE job = %s AND definition = %s ORDER BY id",
            (JOB, name),
        )
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def failing_on(bad: int) -> Any:
    """A transform that passes rows through and raises on the row with id ``bad``."""

    def transform(row: dict[str, Any]) -> dict[str, Any]:
        if row["id"] == bad:
            raise ValueError(f"cannot handle {row['v']}")
        return row

    return transform


def counts_of(result: RunResult) -> tuple[int, int, int, int]:
    """A run's (read, created, updated, skipped)."""
    c = result.counts
    return c.read, c.created, c.updated, c.skipped
