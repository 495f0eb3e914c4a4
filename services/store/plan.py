"""SyncPlan: a definition resolved against both catalogs, ready to run."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.base import ExportDefinition, key_text
from services.store.catalog import Column, Table
from services.store.type_paths import ColumnPath


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
    # How each selected column travels (none with a transform): BINARY, TEXT; a refused
    # one never gets this far (services/store/type_paths.py).
    paths: tuple[ColumnPath, ...] = ()

    @property
    def cursor(self) -> Column:
        return self.source.columns[self.definition.source.cursor.field]

    @property
    def cursor_ids(self) -> tuple[Column, ...]:
        """The tie-breaker's columns (cursor.id_field) in order; empty without one."""
        return tuple(self.source.columns[n] for n in self.definition.source.cursor.id_fields)

    @property
    def id_names(self) -> tuple[str, ...]:
        return self.definition.source.cursor.id_fields

    @property
    def key_names(self) -> list[str]:
        """The read order's columns: the cursor, then the tie-breaker's."""
        return [self.cursor.name, *self.id_names]

    def key_text(self, value: Any, ids: Any) -> str:
        """``updatedAt=..., id=...``: a row's key (ids as a Position or a record holds them)."""
        return key_text(self.cursor.name, self.id_names, value, ids)

    @property
    def keys(self) -> list[str]:
        return list(self.definition.destination.conflict_columns)

    @property
    def batch_size(self) -> int:
        return self.definition.batch_size
