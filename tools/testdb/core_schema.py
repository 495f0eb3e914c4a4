"""The core (application-owned) schema used by the demo, the tests and the benchmarks."""

from __future__ import annotations

from pathlib import Path

import psycopg

CORE_SCHEMA_PATH = Path(__file__).resolve().parents[2] / "db" / "core" / "schema.sql"


def apply_core_schema(url: str) -> None:
    """Create the core "StatEvent" and "ImportJob" tables in the database at ``url``.

    Runs ``db/core/schema.sql`` in one transaction: either every table and
    index exists afterwards or nothing was changed.
    """
    schema_sql = CORE_SCHEMA_PATH.read_text(encoding="utf-8")
    with psycopg.connect(url) as conn:
        # No parameters, so psycopg sends the whole script as one simple query.
        conn.execute(schema_sql.encode("utf-8"))
