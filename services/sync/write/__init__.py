"""Writing a batch into analytics: the writer (``batch_writer``), the staging table and
its upsert (``staging``), the fast path into an empty destination (``fast_path``),
deletes (``deletes``), the row at fault (``row_at_fault``) and what a batch loop
tells the run as it writes and commits (``committed``).

May import ``services.sync.route``, ``services.sync.read``,
``services.sync.transform``, ``services.base`` and ``services.store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.sync.write.batch_writer import BatchWriter, write_on_route
    from services.sync.write.committed import Committed, LoopStep
    from services.sync.write.deletes import check_ahead, counts_after, run_guard
    from services.sync.write.fast_path import FastPath, staging_needs_keys
    from services.sync.write.row_at_fault import copy_line
    from services.sync.write.staging import (
        RowSink,
        StagedBatch,
        Staging,
        copy_blocks,
        transform_window,
    )

__all__ = [
    "BatchWriter",
    "Committed",
    "FastPath",
    "LoopStep",
    "RowSink",
    "StagedBatch",
    "Staging",
    "check_ahead",
    "copy_blocks",
    "copy_line",
    "counts_after",
    "run_guard",
    "staging_needs_keys",
    "transform_window",
    "write_on_route",
]
_HOMES = {
    "BatchWriter": "services.sync.write.batch_writer",
    "Committed": "services.sync.write.committed",
    "FastPath": "services.sync.write.fast_path",
    "LoopStep": "services.sync.write.committed",
    "RowSink": "services.sync.write.staging",
    "StagedBatch": "services.sync.write.staging",
    "Staging": "services.sync.write.staging",
    "check_ahead": "services.sync.write.deletes",
    "copy_blocks": "services.sync.write.staging",
    "copy_line": "services.sync.write.row_at_fault",
    "counts_after": "services.sync.write.deletes",
    "run_guard": "services.sync.write.deletes",
    "staging_needs_keys": "services.sync.write.fast_path",
    "transform_window": "services.sync.write.staging",
    "write_on_route": "services.sync.write.batch_writer",
}
__getattr__ = lazy_exports(__name__, _HOMES)
