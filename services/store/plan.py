"""SyncPlan: a definition resolved against both catalogs, ready to run."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.base import ExportDefinition
from services.store.catalog import Column, Table


class CopyMode(StrEnum):
    """How batches travel from core to analytics."""

    BINARY = "binary"  # no transform, identical types: bytes flow COPY to COPY
    TEXT = "text"  # no transform, types differ: PostgreSQL's input functions convert
    PYTHON = "python"  # a transform sees every row as a dict


@dataclass(frozen=True)
class SyncPlan:
    """Everything a run needs to know about its tables, checked by the pre-flight."""

    job: str
    name: str
    definition: ExportDefinition
    source: Table
    destination: Table
    selected: list[str]  # source columns read, in order
    mode: CopyMode

    @property
    def cursor(self) -> Column:
        return self.source.columns[self.definition.source.cursor.field]

    @property
    def cursor_id(self) -> Column | None:
        id_field = self.definition.source.cursor.id_field
        return None if id_field is None else self.source.columns[id_field]

    @property
    def keys(self) -> list[str]:
        return list(self.definition.destination.conflict_columns)

    @property
    def batch_size(self) -> int:
        return self.definition.batch_size
