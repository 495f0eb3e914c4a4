"""An invalid definition: ``batch_size=0`` fails validation when the config is imported."""

from __future__ import annotations

from services import ExportDefinition

DEFINITIONS = {
    "Broken": ExportDefinition(
        source={"table": "events", "cursor": {"field": "at"}},
        destination={"table": "events", "conflict_columns": ["id"]},
        batch_size=0,
    ),
}
