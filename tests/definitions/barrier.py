"""``Left`` and ``Right``, whose first rows meet at a barrier of two.

Only two runs in flight together can pass: run one after the other, the first
waits alone until its timeout (``TEST_BARRIER_TIMEOUT_S``, default 30) and fails.
"""

from __future__ import annotations

import os
import threading

from definitions import events
from services.base.definition import Row, Transform

BARRIER = threading.Barrier(2)
PASSED: set[str] = set()


def through_barrier(name: str) -> Transform:
    def transform(row: Row) -> Row:
        if name not in PASSED:
            BARRIER.wait(timeout=float(os.environ.get("TEST_BARRIER_TIMEOUT_S", "30")))
            PASSED.add(name)
        return dict(row)

    return transform


DEFINITIONS = {
    name: events(destination={"table": table}, transform=through_barrier(name))
    for name, table in (("Left", "events"), ("Right", "events_right"))
}
