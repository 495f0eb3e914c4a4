"""Reading batches from core: where a run's batches come from (``batch_sources``: a
query per batch, the prefetch thread ``prefetch``, one-query keyset batches ``keyset``,
or the transform workers), binary COPY read in blocks (``copy_read``) and the run's
upper bound (``watermark``).

May import ``services.sync.transform``, ``services.sync.rows``, ``services.sync.route``,
``services.sync.windows``, ``services.base`` and ``services.store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.sync.read.batch_sources import Batch, BatchSources
    from services.sync.read.watermark import compute_watermark, null_cursor_rows

__all__ = [
    "Batch",
    "BatchSources",
    "compute_watermark",
    "null_cursor_rows",
]
_HOMES = {
    "Batch": "services.sync.read.batch_sources",
    "BatchSources": "services.sync.read.batch_sources",
    "compute_watermark": "services.sync.read.watermark",
    "null_cursor_rows": "services.sync.read.watermark",
}
__getattr__ = lazy_exports(__name__, _HOMES)
