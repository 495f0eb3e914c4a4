"""Reading batches from core: where a run's batches come from (``batch_sources``),
the prefetch thread (``prefetch``), one-query keyset batches (``keyset``), binary COPY
read in blocks (``copy_read``), a transform's chunked read (``read_rows``) and the
run's upper bound (``watermark``).

May import ``services.sync.route``, ``services.sync.transform``, ``services.base``
and ``services.store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.sync.read.batch_sources import Batch, BatchSources, Windows, WindowSource
    from services.sync.read.prefetch import NextWindow, stage_blocks
    from services.sync.read.read_rows import loaded_rows
    from services.sync.read.watermark import compute_watermark, null_cursor_rows

__all__ = [
    "Batch",
    "BatchSources",
    "NextWindow",
    "WindowSource",
    "Windows",
    "compute_watermark",
    "loaded_rows",
    "null_cursor_rows",
    "stage_blocks",
]
_HOMES = {
    "Batch": "services.sync.read.batch_sources",
    "BatchSources": "services.sync.read.batch_sources",
    "NextWindow": "services.sync.read.prefetch",
    "WindowSource": "services.sync.read.batch_sources",
    "Windows": "services.sync.read.batch_sources",
    "compute_watermark": "services.sync.read.watermark",
    "loaded_rows": "services.sync.read.read_rows",
    "null_cursor_rows": "services.sync.read.watermark",
    "stage_blocks": "services.sync.read.prefetch",
}
__getattr__ = lazy_exports(__name__, _HOMES)
