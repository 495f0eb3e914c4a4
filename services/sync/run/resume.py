"""Riding out a lost connection: which failures a run resumes from, how often, how soon.

A batch commits with its position, so after a connection drops (a server
restart, a failover, a cut, a stall the timeouts turned into a loss) the run
can reconnect and go on from its last committed batch exactly as a rerun
would, without a person. It does so up to TABLESYNC_RUN_RETRIES times
(default 3), waiting TABLESYNC_CONNECT_BACKOFF_S (0.5 s) before the first
resume, doubling up to 5 s, inside the one run record, which counts the
resumes; each cause is logged. What a resume cannot fix never retries: a bad
row, a transform error, a configuration problem, a stop asked by a signal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

from services.base import (
    DEFAULT_RUN_RETRIES,
    RunSettings,
    StoppedError,
    TransientError,
    first_line,
    redact,
    stopping,
)

log = logging.getLogger(__name__)

# The server ended a statement that waited or ran too long, or chose it as a
# victim: nothing is wrong with the data, and the next try may well pass.
_TIMED_OUT = (
    pg_errors.LockNotAvailable,
    pg_errors.QueryCanceled,  # statement_timeout (a stop by signal is told apart first)
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.AdminShutdown,
)


@dataclass(frozen=True)
class ResumePolicy:
    """How often a run resumes after a lost connection, and how long it waits first."""

    retries: int = DEFAULT_RUN_RETRIES
    first_delay_s: float = 0.5
    max_delay_s: float = 5.0

    @classmethod
    def of(cls, settings: RunSettings) -> ResumePolicy:
        """TABLESYNC_RUN_RETRIES resumes, waiting as a connection retry does."""
        backoff = settings.connect
        return cls(settings.run_retries, backoff.first_delay_s, backoff.max_delay_s)

    def delays(self) -> Iterator[float]:
        """The wait before each resume the policy allows, in order."""
        delay = self.first_delay_s
        for _ in range(self.retries):
            yield delay
            delay = min(delay * 2, self.max_delay_s)


class Resumes:
    """The resumes one run has left under its policy; each one taken is logged."""

    def __init__(self, policy: ResumePolicy) -> None:
        self.policy = policy
        self.taken = 0
        self._delays = policy.delays()

    def next_delay(self, name: str, cause: str) -> float | None:
        """The wait before the next resume after ``cause``; None when none is left."""
        delay = next(self._delays, None)
        if delay is not None:
            self.taken += 1
            log.warning(
                "%s: %s; resuming from its last committed batch in %.2f s (resume %d of %d)",
                name,
                cause,
                delay,
                self.taken,
                self.policy.retries,
            )
        return delay


def lost_databases(**connections: Any) -> str | None:
    """``core``, ``analytics`` or ``core and analytics``: those whose connection broke."""
    lost = [name for name, conn in connections.items() if conn.broken or conn.closed]
    return " and ".join(lost) or None


def resumable_cause(exc: BaseException, lost: str | None) -> str | None:
    """Why a run may resume after ``exc`` (``lost`` names the broken connections), or None
    when a resume cannot help."""
    if isinstance(exc, StoppedError) or stopping.requested() is not None:
        return None  # a stop's cancelled query is no outage: never "resuming" after one
    if isinstance(exc, PoolTimeout | TransientError):  # reconnecting failed: try again later
        return redact(first_line(exc))
    if isinstance(exc, psycopg.OperationalError) and lost:
        return f"lost the {lost} database connection: {redact(first_line(exc))}"
    if isinstance(exc, _TIMED_OUT):
        where = f" on {lost}" if lost else ""
        return f"{type(exc).__name__}{where}: {redact(first_line(exc))}"
    return None
