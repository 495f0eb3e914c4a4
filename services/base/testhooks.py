"""TEST-ONLY: let the crash tests kill the runner at an exact instant of a run.

``TABLESYNC_TEST_KILL_AT="phase:n"`` makes the process SIGKILL itself the
n-th time (1-based) it reaches ``kill_point(phase)``. Unset (always, outside
tests/test_crash.py), ``kill_point`` is one dict lookup and does nothing.
Phases: ``read`` (a source row or chunk read), ``transform`` (a row
transformed), ``copy`` (a row or chunk written to staging), ``upsert``
(the batch's upsert ran, not committed), ``commit`` (position saved, not
committed), ``committed`` (the batch's transaction committed). Backfills
(services/sync/backfill/plan.py) add ``plan`` (chunks stored, not committed),
``chunk_done`` (a chunk marked done, not committed) and ``handover`` (the
last chunk's hand-over position saved, not committed).

``TABLESYNC_TEST_KILL_WITH`` picks what happens there instead of SIGKILL:
``SIGTERM`` or ``SIGINT`` (sent to the runner, as a scheduler or Ctrl-C would:
tests/test_stop.py), or ``fault:<host>:<port>``, which asks the test's fault
proxy listening there (tests/faultproxy.py) to fail its connections, and
waits until it has (tests/test_faults.py).

``TABLESYNC_TEST_DELAY="phase:seconds"`` makes ``delay_point(phase)`` sleep,
so a test can keep a backfill's chunks in flight while other runners join.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

KILL_AT_VARIABLE = "TABLESYNC_TEST_KILL_AT"
KILL_WITH_VARIABLE = "TABLESYNC_TEST_KILL_WITH"
DELAY_VARIABLE = "TABLESYNC_TEST_DELAY"
_GOES_ON_S = 0.5
_reached: Counter[str] = Counter()
# In a transform worker (services/sync/transform/transform_workers.py) the run is its parent:
# a kill there kills the runner first, as a crash of the whole run would.
_kill_parent = False


def mark_worker() -> None:
    """Test-only effect: from now on a kill point in this process kills its parent too."""
    global _kill_parent
    _kill_parent = True


def kill_points_armed() -> bool:
    """Whether a kill point is set at all: a loop per row asks once, not per row."""
    return bool(os.environ.get(KILL_AT_VARIABLE))


def kill_point(phase: str) -> None:
    """Test-only: SIGKILL this process when ``phase`` is reached the n-th time."""
    target = os.environ.get(KILL_AT_VARIABLE)
    if not target:
        return
    name, _, count = target.partition(":")
    if name != phase:
        return
    _reached[phase] += 1
    if _reached[phase] != int(count or "1"):
        return
    action = os.environ.get(KILL_WITH_VARIABLE, "SIGKILL")
    if action.startswith("fault:"):
        _ask_for_fault(action.removeprefix("fault:"))
        return
    runner = os.getppid() if _kill_parent else os.getpid()
    os.kill(runner, signal.Signals[action])
    if action == "SIGKILL" and _kill_parent:
        os.kill(os.getpid(), signal.SIGKILL)
    # The work in flight goes on a moment, as it would while a signal from outside is
    # handled, so what the stop cancels is under way (time: only tests come here).
    time.sleep(_GOES_ON_S)


def _ask_for_fault(address: str) -> None:
    import socket

    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as control:
        control.sendall(b"fault\n")
        control.recv(16)  # the proxy answers once the fault is done


def delay_point(phase: str) -> None:
    """Test-only: sleep as long as TABLESYNC_TEST_DELAY says when ``phase`` is reached."""
    target = os.environ.get(DELAY_VARIABLE)
    if not target:
        return
    name, _, seconds = target.partition(":")
    if name == phase:
        time.sleep(float(seconds or "0"))
