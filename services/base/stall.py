"""The stall watchdog: a run's connection silent for too long on a statement is lost.

TCP keepalives and ``tcp_user_timeout`` find a peer that stopped answering;
they cannot find one that still acknowledges but never forwards (a hung
proxy or pooler), where a query would wait for its answer for ever. The
server ends any statement at ``statement_timeout`` with an error, so silence
both ways for longer than that (plus a margin) on a connection with a
statement in flight means no answer is coming: the watchdog then shuts the
socket down, and the run sees a lost connection it can resume from.

A connection whose data waits unread in our receive queue is not stalled
(the runner is busy elsewhere, e.g. a prefetch thread waiting for room), nor
is one whose silence is shorter than the limit. Linux only (TCP_INFO); on
other systems nothing is watched.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import struct
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from psycopg import pq

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.5
# struct tcp_info: 8 one-byte fields, then __u32s; last_data_sent is the 10th
# __u32 and last_data_recv the 12th (milliseconds since that event).
_TCP_INFO = struct.Struct("=8x13I")
_LAST_SENT, _LAST_RECV = 9, 11


@dataclass(frozen=True)
class _Watched:
    conn: Any
    name: str
    limit_s: float


_lock = threading.Lock()
_watched: dict[int, _Watched] = {}
_thread: threading.Thread | None = None


@contextmanager
def watched(limit_s: float | None, **connections: Any) -> Iterator[None]:
    """Watch ``connections`` (by name: ``core=conn``) for stalls until the block ends."""
    if limit_s is None or not hasattr(socket, "TCP_INFO"):
        yield
        return
    entries = {id(c): _Watched(c, name, limit_s) for name, c in connections.items()}
    with _lock:
        _watched.update(entries)
        _start()
    try:
        yield
    finally:
        with _lock:
            for key in entries:
                _watched.pop(key, None)


def silence_s(fd: int) -> float | None:
    """Seconds since data last went either way on socket ``fd``, or None when data
    waits unread (we are the ones holding it up) or the socket cannot say."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    with sock:
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size)
            unread = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
        except OSError:
            return None
    if unread:
        return None
    times = _TCP_INFO.unpack(info)
    return float(min(times[_LAST_SENT], times[_LAST_RECV])) / 1000


def _start() -> None:
    global _thread
    if _thread is None or not _thread.is_alive():
        _thread = threading.Thread(target=_watch, name="stall-watchdog", daemon=True)
        _thread.start()


def _watch() -> None:
    while True:
        time.sleep(CHECK_EVERY_S)
        with _lock:
            entries = list(_watched.values())
        for entry in entries:
            _check(entry)


def _check(entry: _Watched) -> None:
    pgconn = entry.conn.pgconn
    with suppress(Exception):  # a connection closing under us has nothing to watch
        if pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
            return
        fd = pgconn.socket
        silent = silence_s(fd)
        if silent is None or silent < entry.limit_s:
            return
        log.warning(
            "the %s database connection has been silent for %.0f s on a statement in"
            " flight: closing it as lost",
            entry.name,
            silent,
        )
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)


def _forget_in_child() -> None:
    """A forked worker shares its parent's sockets: it must never shut one down."""
    global _lock, _thread
    _lock, _thread = threading.Lock(), None
    _watched.clear()


os.register_at_fork(after_in_child=_forget_in_child)
