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

    BINARY = "binary"  # no transform (or a select), same types: bytes flow COPY to COPY
    TEXT = "text"  # no transform (or a select), types differ: input functions convert
    PYTHON = "python"  # a transform sees every row as a dict


@dataclass(frozen=True)
class SyncPlan:
    """Everything a run needs to know about its tables, checked by the pre-flight."""

    job: str
    name: str
    definition: ExportDefinition
    source: Table
    destination: Table
    # The columns read, in order: source columns, or with a select the destination columns
    # its expressions give (``expressions``).
    selected: list[str]
    mode: CopyMode
    # How each selected column travels (none with a transform): BINARY, TEXT; a refused
    # one never gets this far (services/store/type_paths.py).
    paths: tuple[ColumnPath, ...] = ()

    @property
    def expressions(self) -> dict[str, str] | None:
        """A select definition's SQL expression per destination column, else None."""
        return self.definition.select

    @property
    def row_filter(self) -> str | None:
        """``source.where``: the SQL predicate core leaves rows out by, else None."""
        return self.definition.source.where

    @property
    def user_sql(self) -> bool:
        """Whether the read query holds SQL the definition wrote (select, where)."""
        return self.expressions is not None or self.row_filter is not None

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
