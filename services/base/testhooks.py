"""TEST-ONLY: let the crash tests kill the runner at an exact instant of a run.

``TABLESYNC_TEST_KILL_AT="phase:n"`` makes the process SIGKILL itself the
n-th time (1-based) it reaches ``kill_point(phase)``. Unset (always, outside
tests/test_crash.py), ``kill_point`` is one dict lookup and does nothing.
Phases: ``read`` (a source row or chunk read), ``transform`` (a row
transformed), ``copy`` (a row or chunk written to staging), ``upsert``
(the batch's upsert ran, not committed), ``commit`` (position saved, not
committed), ``committed`` (the batch's transaction committed). Backfills
(services/sync/backfill.py) add ``plan`` (chunks stored, not committed),
``chunk_done`` (a chunk marked done, not committed) and ``handover`` (the
last chunk's hand-over position saved, not committed).

``TABLESYNC_TEST_DELAY="phase:seconds"`` makes ``delay_point(phase)`` sleep,
so a test can keep a backfill's chunks in flight while other runners join.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

KILL_AT_VARIABLE = "TABLESYNC_TEST_KILL_AT"
DELAY_VARIABLE = "TABLESYNC_TEST_DELAY"
_reached: Counter[str] = Counter()
# In a transform worker (services/sync/transform_workers.py) the run is its parent:
# a kill there kills the runner first, as a crash of the whole run would.
_kill_parent = False


def mark_worker() -> None:
    """Test-only effect: from now on a kill point in this process kills its parent too."""
    global _kill_parent
    _kill_parent = True


def kill_point(phase: str) -> None:
    """Test-only: SIGKILL this process when ``phase`` is reached the n-th time."""
    target = os.environ.get(KILL_AT_VARIABLE)
    if not target:
        return
    name, _, count = target.partition(":")
    if name != phase:
        return
    _reached[phase] += 1
    if _reached[phase] == int(count or "1"):
        if _kill_parent:
            os.kill(os.getppid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


def delay_point(phase: str) -> None:
    """Test-only: sleep as long as TABLESYNC_TEST_DELAY says when ``phase`` is reached."""
    target = os.environ.get(DELAY_VARIABLE)
    if not target:
        return
    name, _, seconds = target.partition(":")
    if name == phase:
        time.sleep(float(seconds or "0"))
