"""Definitions modules of the tests: each is a job config (a DEFINITIONS dict) that
tests/cli_driver.py loads as ``jobs.export_to_pg.config`` when
``TABLESYNC_TEST_DEFINITIONS`` names it (``dbtools.with_definitions(env, "events")``).

Most read core ``events`` (tests/faultkit.py creates it on both sides); ``events``
below is that definition, with whatever a test changes.
"""

from __future__ import annotations

from typing import Any

from services import ExportDefinition


def events(
    *,
    source: dict[str, Any] | None = None,
    destination: dict[str, Any] | None = None,
    **fields: Any,
) -> ExportDefinition:
    """core ``events`` (cursor ``at``, tie-breaker ``id``) into analytics_raw.events on ``id``;
    ``source`` and ``destination`` replace keys of their spec, ``fields`` set the others."""
    return ExportDefinition(
        source={"table": "events", "cursor": {"field": "at", "id_field": "id"}, **(source or {})},
        destination={"table": "events", "conflict_columns": ["id"], **(destination or {})},
        **fields,
    )
