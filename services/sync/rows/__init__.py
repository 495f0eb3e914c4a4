"""What a batch's rows leave as they pass, which every phase reads: the row being
handled and the errors that name it (``row_at_fault``), and what a batch staged
(``staged_batch``).

May import ``services.base`` and ``services.store`` only: every other room of
``services.sync`` stands on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.sync.rows.row_at_fault import (
        FastPathRefused,
        RowAt,
        check_keys,
        copy_line,
        row_error,
    )
    from services.sync.rows.staged_batch import StagedBatch

__all__ = [
    "FastPathRefused",
    "RowAt",
    "StagedBatch",
    "check_keys",
    "copy_line",
    "row_error",
]
_HOMES = {
    "FastPathRefused": "services.sync.rows.row_at_fault",
    "RowAt": "services.sync.rows.row_at_fault",
    "StagedBatch": "services.sync.rows.staged_batch",
    "check_keys": "services.sync.rows.row_at_fault",
    "copy_line": "services.sync.rows.row_at_fault",
    "row_error": "services.sync.rows.row_at_fault",
}
__getattr__ = lazy_exports(__name__, _HOMES)
