"""An invalid definition of the shipped tables: no conflict columns."""

from __future__ import annotations

from services import ExportDefinition

DEFINITIONS = {
    "Bad": ExportDefinition(
        source={"table": "StatEvent", "cursor": {"field": "updatedAt"}},
        destination={"table": "stat_event", "conflict_columns": []},
    )
}
