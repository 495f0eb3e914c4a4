"""Writing a batch into analytics: the writer (``batch_writer``), the staging table and
every way rows get into it (``staging``), the fast path into an empty destination
(``fast_path``), deletes and their guard (``deletes``), and what a batch loop tells the
run as it writes and commits (``committed``).

May import ``services.sync.read``, ``services.sync.transform``, ``services.sync.rows``,
``services.sync.route``, ``services.sync.windows``, ``services.base`` and
``services.store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.sync.write.batch_writer import BatchWriter, write_on_route
    from services.sync.write.committed import Committed, LoopStep
    from services.sync.write.deletes import check_ahead, counts_after, run_guard
    from services.sync.write.fast_path import FastPath
    from services.sync.write.staging import Staging, copy_blocks

__all__ = [
    "BatchWriter",
    "Committed",
    "FastPath",
    "LoopStep",
    "Staging",
    "check_ahead",
    "copy_blocks",
    "counts_after",
    "run_guard",
    "write_on_route",
]
_HOMES = {
    "BatchWriter": "services.sync.write.batch_writer",
    "Committed": "services.sync.write.committed",
    "FastPath": "services.sync.write.fast_path",
    "LoopStep": "services.sync.write.committed",
    "Staging": "services.sync.write.staging",
    "check_ahead": "services.sync.write.deletes",
    "copy_blocks": "services.sync.write.staging",
    "counts_after": "services.sync.write.deletes",
    "run_guard": "services.sync.write.deletes",
    "write_on_route": "services.sync.write.batch_writer",
}
__getattr__ = lazy_exports(__name__, _HOMES)
