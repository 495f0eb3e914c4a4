"""The data path: one definition's run, batch by batch, from core into analytics.

In rooms by phase, each with its front door, each importing only those before it:
``rows`` (the row at fault, what a batch staged), ``transform`` (a Python transform's
loop, workers and output), ``read`` (where batches come from), ``write`` (the writer,
staging, the fast path, deletes), ``backfill`` (the plan, the chunk loop) and ``run``
(the run loop ``process_definition``, its state, lock, resumes and failures). Beside
them, what every phase reads: the ``route`` (how an attempt reads and writes, decided
once) and the ``windows`` a run reads.

May import ``services.base`` and ``services.store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports
from services.sync.run import process_definition as process_definition

if TYPE_CHECKING:
    from services.sync.backfill import ChunkPlan, next_chunk_plan, why_not_backfill
    from services.sync.read import compute_watermark
    from services.sync.route import Route
    from services.sync.rows import StagedBatch
    from services.sync.run import FollowedRun, failure_file_of, planned_route, read_failure_file
    from services.sync.write import Staging, copy_blocks

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
    "StagedBatch": "services.sync.rows",
    "Staging": "services.sync.write",
    "compute_watermark": "services.sync.read",
    "copy_blocks": "services.sync.write",
    "failure_file_of": "services.sync.run",
    "next_chunk_plan": "services.sync.backfill",
    "planned_route": "services.sync.run",
    "read_failure_file": "services.sync.run",
    "why_not_backfill": "services.sync.backfill",
}
__getattr__ = lazy_exports(__name__, _HOMES)
