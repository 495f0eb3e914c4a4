"""The definitions of the export-to-pg job; the key is the name used on the command line.

Each value is an ExportDefinition's fields as a dict: ``build_definitions``
validates them all and, when one is wrong, names it in the error.
"""

from __future__ import annotations

from jobs.export_to_pg.transforms import STAT_EVENT_SELECT, stat_event_row
from services import ExportDefinition, build_definitions

DEFINITIONS: dict[str, ExportDefinition] = build_definitions(
    {
        "StatEvent": {
            "source": {
                "table": "StatEvent",
                "cursor": {"field": "updatedAt", "id_field": "id"},
                "columns": [
                    "id",
                    "createdAt",
                    "updatedAt",
                    "type",
                    "source",
                    "source_id",
                    "source_name",
                    "from_publisher_id",
                    "to_publisher_id",
                    "mission_id",
                    "host",
                    "user",
                    "is_bot",
                    "tags",
                    "custom_attributes",
                ],
            },
            # old_id is core's id unchanged: `--verify --keys` hashes keys on each server.
            "destination": {
                "table": "stat_event",
                "conflict_columns": ["old_id"],
                "key_source": {"old_id": "id"},
            },
            "transform": stat_event_row,
        },
        # StatEvent's transform in SQL, evaluated by core: the bytes flow COPY to COPY
        # (docs/select.md). Same rows as StatEvent (tests/test_select_shipped.py).
        "StatEventSQL": {
            "source": {
                "table": "StatEvent",
                "cursor": {"field": "updatedAt", "id_field": "id"},
                # stat_event_row skips a row without a source_id (NULL or empty).
                "where": """"source_id" <> ''""",
            },
            "destination": {"table": "stat_event_sql", "conflict_columns": ["old_id"]},
            "select": STAT_EVENT_SELECT,
        },
        # A run still in progress has no finishedAt: it is exported once it ends.
        "ImportJob": {
            "source": {"table": "ImportJob", "cursor": {"field": "finishedAt", "id_field": "id"}},
            "destination": {"table": "import_job", "conflict_columns": ["id"]},
        },
    }
)
