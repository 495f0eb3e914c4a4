"""The data path: one definition's run, batch by batch, from core into analytics.

``process_definition`` is the hub: it fixes the watermark, takes batches from
a source (``batch_sources``: a query, the prefetch thread or the transform
workers), writes each (``batch_writer``: straight in on the fast path, else
staged and upserted) and commits it with its position. May import
``services.base`` and ``services.store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports
from services.sync.run import process_definition as process_definition

if TYPE_CHECKING:
    from services.sync.backfill import ChunkPlan, next_chunk_plan, why_not_backfill
    from services.sync.read import compute_watermark
    from services.sync.route import Route, planned_route
    from services.sync.run import FollowedRun, failure_file_of, read_failure_file
    from services.sync.write import StagedBatch, Staging, copy_blocks

__all__ = [
    "ChunkPlan",
    "FollowedRun",
    "Route",
    "StagedBatch",
    "Staging",
    "compute_watermark",
    "copy_blocks",
    "failure_file_of",
    "next_chunk_plan",
    "planned_route",
    "process_definition",
    "read_failure_file",
    "why_not_backfill",
]
_HOMES = {
    "ChunkPlan": "services.sync.backfill",
    "FollowedRun": "services.sync.run",
    "Route": "services.sync.route",
    "StagedBatch": "services.sync.write",
    "Staging": "services.sync.write",
    "compute_watermark": "services.sync.read",
    "copy_blocks": "services.sync.write",
    "failure_file_of": "services.sync.run",
    "next_chunk_plan": "services.sync.backfill",
    "planned_route": "services.sync.route",
    "read_failure_file": "services.sync.run",
    "why_not_backfill": "services.sync.backfill",
}
__getattr__ = lazy_exports(__name__, _HOMES)
