"""What turns a hung connection into a lost one, which a run can then resume from.

A connection can hang rather than drop: the server's host vanished (a half-open
TCP connection), a middlebox stopped forwarding, the server waits on a lock or
runs away with a statement. Each has its bound, set on every connection:

- TCP keepalives (probe after 30 s idle, every 10 s, 3 times): a peer that
  stopped answering while we wait is found in about a minute;
- ``tcp_user_timeout`` (TABLESYNC_TCP_USER_TIMEOUT_S, default 60): data we
  sent that nobody acknowledges for that long ends the connection;
- ``statement_timeout`` (TABLESYNC_STATEMENT_TIMEOUT_S, default 900) and
  ``lock_timeout`` (TABLESYNC_LOCK_TIMEOUT_S, default 60): the server ends a
  statement that runs, or waits for a lock, longer than that;
- past twice ``statement_timeout`` (at most 5 s more) of silence both ways on
  a statement in flight, the run's stall watchdog (services/base/stall.py) closes the
  socket itself: even a middlebox that acknowledges and never forwards cannot
  hold a run for ever.

0 turns a bound off (not the keepalives).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.base.settings import env_number, read_all

STATEMENT_TIMEOUT_VARIABLE = "TABLESYNC_STATEMENT_TIMEOUT_S"
LOCK_TIMEOUT_VARIABLE = "TABLESYNC_LOCK_TIMEOUT_S"
TCP_USER_TIMEOUT_VARIABLE = "TABLESYNC_TCP_USER_TIMEOUT_S"
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
KEEPALIVES_COUNT = 3
# The server answers a statement past statement_timeout with an error: silence
# longer than this after it means nothing is coming.
STALL_MARGIN_S = 5.0


@dataclass(frozen=True)
class Timeouts:
    """The bounds of every connection, in seconds (0: off)."""

    statement_s: float = 900.0
    lock_s: float = 60.0
    tcp_user_s: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Timeouts:
        """The TABLESYNC_*_TIMEOUT_S variables; a bad value is exit 2."""
        readers = {
            field: lambda env, name=name, default=default: env_number(env, name, default, minimum=0)
            for field, name, default in (
                ("statement_s", STATEMENT_TIMEOUT_VARIABLE, cls.statement_s),
                ("lock_s", LOCK_TIMEOUT_VARIABLE, cls.lock_s),
                ("tcp_user_s", TCP_USER_TIMEOUT_VARIABLE, cls.tcp_user_s),
            )
        }
        return cls(**read_all(environ, readers))

    @property
    def stall_s(self) -> float | None:
        """Silence on a statement in flight after which its connection is lost (twice
        statement_timeout, at most STALL_MARGIN_S more); None: never."""
        if not self.statement_s:
            return None
        return self.statement_s + min(self.statement_s, STALL_MARGIN_S)

    def connection_kwargs(self) -> dict[str, Any]:
        """libpq's keepalive and TCP settings."""
        return {
            **KEEPALIVES,
            "keepalives_count": KEEPALIVES_COUNT,
            "tcp_user_timeout": int(self.tcp_user_s * 1000),
        }

    def options(self) -> str:
        """The server-side bounds, as ``-c`` options of the connection."""
        statement, lock = int(self.statement_s * 1000), int(self.lock_s * 1000)
        return f" -c statement_timeout={statement} -c lock_timeout={lock}"
