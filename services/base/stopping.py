"""Contract rule 13: a run asked to stop (SIGTERM, SIGINT) stops within a bound, never silently.

``run_job.py`` hands both signals to ``on_signal``. While runs are under way (inside
``stoppable()``), the first signal only asks them to stop: each sees ``requested()`` at
its next step and raises StoppedError, and a thread of its own (never the handler)
cancels the queries in flight on the runs' connections, again every CANCEL_EVERY_S so
a statement started after the signal is cancelled too, except on a connection that is
committing (``committing(conn)``, once its rows are written): that batch is let
finish. If the runs have not ended TABLESYNC_STOP_TIMEOUT_S after the signal, the
process ends anyway; a second signal ends it at once. Either way the server rolls
back what was not committed, and the next run marks the record abandoned (rule 4
holds at any instant).

Outside a run nothing in flight is worth saving, so the signal raises StoppedError
where the program is, and the command line exits 130 / 143 as a shell would.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from services.base.errors import StoppedError

STOP_TIMEOUT_VARIABLE = "TABLESYNC_STOP_TIMEOUT_S"
DEFAULT_STOP_TIMEOUT_S = 10.0
CANCEL_EVERY_S = 0.25
# A cancel request is one short connection to the server; a stalled one gets no longer.
CANCEL_TIMEOUT_S = 2.0
SIGNALS = (signal.SIGTERM, signal.SIGINT)


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15."""
    return signal.Signals(signum).name


class _StopState:
    """The process's one stop request, and the connections it cancels."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.signum: int | None = None
        self.requested_at = 0.0
        self.timeout_s = DEFAULT_STOP_TIMEOUT_S
        self.runs = 0
        self.connections: dict[int, Any] = {}
        self.shielded: set[int] = set()
        self.asked = threading.Event()  # wakes a run waiting to resume


_state = _StopState()


def configure(timeout_s: float) -> None:
    """How long runs have to stop after a signal (TABLESYNC_STOP_TIMEOUT_S, read and checked
    with the other run-time variables in services/base/run_settings.py)."""
    _state.timeout_s = timeout_s


def install() -> None:
    """Handle SIGTERM and SIGINT as rule 13 says. Also what makes SIGTERM work for PID 1
    of a container: the kernel drops a signal that init has no handler for."""
    for signum in SIGNALS:
        signal.signal(signum, on_signal)


def on_signal(signum: int, frame: object) -> None:
    """The handler: ask the runs to stop, end at once on a second signal, or raise."""
    with _state.lock:
        first, runs = _state.signum is None, _state.runs
        if first:
            _state.signum, _state.requested_at = signum, time.monotonic()
            _state.asked.set()
    if not first:
        _exit_now(signum, "stopped at once by a second signal")
    if not runs:
        check()
    threading.Thread(target=_cancel_until_stopped, name="stop", daemon=True).start()
    deadline = threading.Timer(_state.timeout_s, _deadline, args=(signum,))
    deadline.daemon = True
    deadline.start()


def requested() -> int | None:
    """The signal that asked to stop, or None."""
    return _state.signum


def error() -> StoppedError | None:
    """The error saying which signal asked to stop, or None when none did."""
    signum = _state.signum
    return (
        None if signum is None else StoppedError(f"stopped by {signal_name(signum)}", signum=signum)
    )


def check() -> None:
    """Raise StoppedError when a stop was asked: call where a run can stop cleanly."""
    stopped = error()
    if stopped is not None:
        raise stopped


def remaining_s() -> float:
    """Seconds left before the deadline ends the process (the full timeout if none asked)."""
    if _state.signum is None:
        return _state.timeout_s
    return max(_state.timeout_s - (time.monotonic() - _state.requested_at), 0.0)


@contextmanager
def stoppable() -> Iterator[None]:
    """Runs under way: a signal now asks them to stop instead of raising where it lands."""
    with _state.lock:
        _state.runs += 1
    try:
        yield
    finally:
        with _state.lock:
            _state.runs -= 1


@contextmanager
def cancellable(*connections: Any) -> Iterator[None]:
    """Cancel what ``connections`` run while a stop is asked, until the block ends."""
    keys = [id(conn) for conn in connections]
    with _state.lock:
        _state.connections.update(zip(keys, connections, strict=True))
    try:
        yield
    finally:
        with _state.lock:  # waits for a cancel being sent: none reaches a later query
            for key in keys:
                _state.connections.pop(key, None)


class Commit:
    """A batch's transaction on ``conn``; once ``begin()`` is called, a stop lets it finish."""

    def __init__(self, conn: Any) -> None:
        self._key = id(conn)

    def begin(self) -> None:
        """The batch is written: from here on its commit is let finish."""
        with _state.lock:
            _state.shielded.add(self._key)

    def end(self) -> None:
        with _state.lock:
            _state.shielded.discard(self._key)


@contextmanager
def committing(conn: Any) -> Iterator[Commit]:
    """Wrap a batch's transaction on ``conn``; see Commit."""
    commit = Commit(conn)
    try:
        yield commit
    finally:
        commit.end()


def sleep(seconds: float) -> None:
    """Wait ``seconds``, or less if a stop is asked; then raise StoppedError if one was."""
    _state.asked.wait(seconds)
    check()


def _cancel_until_stopped() -> None:
    """Cancel the runs' queries, but not a commit, until the runs have all ended."""
    while _state.runs:
        with _state.lock:
            for key, conn in list(_state.connections.items()):
                if key not in _state.shielded and not conn.closed:
                    with suppress(Exception):  # a dead connection has nothing to cancel
                        conn.cancel_safe(timeout=CANCEL_TIMEOUT_S)
        time.sleep(CANCEL_EVERY_S)


def _deadline(signum: int) -> None:
    _exit_now(signum, f"did not stop within {STOP_TIMEOUT_VARIABLE}={_state.timeout_s:g} s")


def _exit_now(signum: int, why: str) -> None:
    """End the process without unwinding: the server rolls back the open batches."""
    line = (
        f"error: {why} ({signal_name(signum)}); the batches in flight are rolled back by the"
        " server and the next run marks these runs abandoned\n"
    )
    with suppress(OSError):
        os.write(sys.stderr.fileno(), line.encode())
    os._exit(128 + signum)


def _forget_in_child() -> None:
    """A forked worker starts with no stop of its own: its parent stops it."""
    global _state
    _state = _StopState()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


os.register_at_fork(after_in_child=_forget_in_child)
