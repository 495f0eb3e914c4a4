"""Run independent definitions side by side, at most N at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def run_all(names: Sequence[str], run_one: Callable[[str], T], *, jobs: int) -> list[T]:
    """``run_one(name)`` for every name, up to ``jobs`` at once; results in ``names`` order.

    ``run_one`` must not raise for a definition's own failure (it returns the
    outcome instead): one definition's failure never stops the others.
    """
    if jobs <= 1 or len(names) <= 1:
        return [run_one(name) for name in names]
    with ThreadPoolExecutor(max_workers=min(jobs, len(names)), thread_name_prefix="sync") as pool:
        return list(pool.map(run_one, names))


def pool_size_for(jobs: int) -> int:
    """Connections per pool for ``jobs`` parallel runs: each holds one, plus one to
    record a failure on a fresh connection, plus one to spare."""
    return max(jobs, 1) + 2
