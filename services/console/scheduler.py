"""Schedules: ``serve`` runs each definition that has a ``schedule`` when it is due.

A thread of the console looks every POLL_S seconds for definitions whose latest due
time (services/base/schedule.py) has come and is not yet claimed. It claims the due
time first (services/store/schedule_claims.py): the primary key of the claim lets one
console in, so with several consoles up a definition still runs once per due time.
The winner starts the run as "Run now" does (services/console/launcher.py): a child
process under the definition's lock, its record's origin ``schedule``. A due time
whose lock is held (a follower, a cron run) is skipped, and its claim says so.

A due time older than CATCH_UP_S when a console first sees it unclaimed (every console
was down) is not run late: it shows as a late schedule until the next due time runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading

from services.base import redact
from services.console.catalog import DOWN_ERRORS, Catalog, ConsolePools
from services.console.launcher import Launcher
from services.store import claim_due, record_claim_outcome

log = logging.getLogger(__name__)

ORIGIN = "schedule"
POLL_S = 1.0
CATCH_UP_S = 600.0


class Scheduler:
    """The console's thread that runs due definitions, one claim per due time."""

    def __init__(self, catalog: Catalog, pools: ConsolePools, launcher: Launcher) -> None:
        self._catalog, self._pools, self._launcher = catalog, pools, launcher
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._host, self._pid = socket.gethostname(), os.getpid()

    def start(self) -> None:
        """Look for due definitions every POLL_S seconds until ``stop``; nothing to do for a
        catalog without schedules."""
        if not self._scheduled():
            return
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=POLL_S * 5)

    def _scheduled(self) -> list[tuple[str, str]]:
        return [
            (job, name)
            for job, definitions in self._catalog.jobs.items()
            for name, definition in definitions.items()
            if definition.schedule is not None
        ]

    def _loop(self) -> None:
        while not self._stopping.wait(POLL_S):
            try:
                self.run_due(dt.datetime.now(dt.UTC))
            except DOWN_ERRORS as exc:  # a database away: the next look tries again
                log.warning("schedules: cannot read the databases: %s", redact(exc))

    def run_due(self, now: dt.datetime) -> None:
        """Claim and start each scheduled definition whose latest due time is unclaimed."""
        for job, name in self._scheduled():
            schedule = self._catalog.jobs[job][name].parsed_schedule
            assert schedule is not None
            due = schedule.due_at_or_before(now)
            if (now - due).total_seconds() > CATCH_UP_S or not self._claim(job, name, due):
                continue
            log.info("schedule %s: %s %s due at %s", schedule.text, job, name, due.isoformat())
            (started,) = self._launcher.start(job, [name], skip_busy=True, origin=ORIGIN)
            outcome = (
                started.outcome if started.error is None else f"{started.outcome}: {started.error}"
            )
            self._record(job, name, due, started.run_id, outcome)

    def _claim(self, job: str, name: str, due: dt.datetime) -> bool:
        with self._pools.databases() as dbs, dbs.analytics.connection() as conn:
            conn.autocommit = True
            claimed: bool = claim_due(
                conn, job=job, definition=name, due_at=due, host=self._host, pid=self._pid
            )
            return claimed

    def _record(
        self, job: str, name: str, due: dt.datetime, run_id: int | None, outcome: str
    ) -> None:
        with self._pools.databases() as dbs, dbs.analytics.connection() as conn:
            conn.autocommit = True
            record_claim_outcome(
                conn, job=job, definition=name, due_at=due, run_id=run_id, outcome=redact(outcome)
            )
