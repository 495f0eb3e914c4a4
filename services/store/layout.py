"""The staging table's layout: what a staged row carries besides its columns.

Decided once per attempt with the rest of the run's route
(services/sync/route.py); ``create_staging`` and ``copy_in`` (sql.py) build
the table and its COPY from it, so the two always agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StagingLayout:
    """The extra columns of a staged row."""

    keyed: bool = True  # its key as text: names a row at fault, and a keyset batch's end
    ordinal: bool = True  # its order of arrival (only with keyed): DISTINCT ON's latest row
    deletes: bool = False  # whether it deletes its key (services/sync/write/deletes.py)

    def __str__(self) -> str:
        parts = [name for name in ("keyed", "ordinal", "deletes") if getattr(self, name)]
        return "+".join(parts) or "columns only"
