"""tablesync's engine: definitions, the sync loop and what it needs."""

from services.base.definition import (
    CursorSpec,
    DestinationSpec,
    ExportDefinition,
    SourceSpec,
    build_definitions,
)

__all__ = ["CursorSpec", "DestinationSpec", "ExportDefinition", "SourceSpec", "build_definitions"]
