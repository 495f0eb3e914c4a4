"""Backfills: the plan, its chunks and the hand-over (``plan``), and a runner's
chunk loop (``chunk_loop``).

May import ``services.sync.read``, ``services.sync.write``, ``services.sync.rows``,
``services.sync.route``, ``services.sync.windows``, ``services.base`` and
``services.store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.sync.backfill.chunk_loop import ChunkWindows, commit_chunks
    from services.sync.backfill.plan import (
        ChunkPlan,
        next_chunk_plan,
        plan_backfill,
        why_not_backfill,
    )

__all__ = [
    "ChunkPlan",
    "ChunkWindows",
    "commit_chunks",
    "next_chunk_plan",
    "plan_backfill",
    "why_not_backfill",
]
_HOMES = {
    "ChunkPlan": "services.sync.backfill.plan",
    "ChunkWindows": "services.sync.backfill.chunk_loop",
    "commit_chunks": "services.sync.backfill.chunk_loop",
    "next_chunk_plan": "services.sync.backfill.plan",
    "plan_backfill": "services.sync.backfill.plan",
    "why_not_backfill": "services.sync.backfill.plan",
}
__getattr__ = lazy_exports(__name__, _HOMES)
