"""What one batch left in staging (or the destination): its rows read, skipped, deleting,
and the columns it wrote; the staging COPYs (services/sync/write/staging.py), the
transform loop and its workers (services/sync/transform/) each return one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StagedBatch:
    """What was staged: rows read, rows the transform skipped, columns written."""

    read: int = 0
    skipped: int = 0
    columns: list[str] = field(default_factory=list)
    # Rows that delete their key (services/sync/write/deletes.py), staged or by value, and the
    # keys to delete by value once the batch is written (conflict column values).
    deleting: int = 0
    deleted_keys: list[tuple[Any, ...]] = field(default_factory=list)
    by_value: int = 0  # of the rows read, those that delete by value (never written)

    @property
    def nothing_written(self) -> bool:
        """Whether no row went into staging (or the destination) at all."""
        return self.read == self.skipped + self.by_value
