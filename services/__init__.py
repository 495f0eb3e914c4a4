"""tablesync's engine: definitions, the sync loop and what it needs."""

from services.base.definition import (
    CursorSpec,
    Delete,
    DestinationSpec,
    ExportDefinition,
    SoftDeleteSpec,
    SourceSpec,
    build_definitions,
)

__all__ = [
    "CursorSpec",
    "Delete",
    "DestinationSpec",
    "ExportDefinition",
    "SoftDeleteSpec",
    "SourceSpec",
    "build_definitions",
]
