"""One followed definition between cycles: open, following, failing (backing off), or done.

Records (docs/operating.md, "Following"): a follower's work is counted in one run
record per stretch of healthy cycles, opened when it starts following (origin
``follow``) and updated by every batch it commits, never by an idle cycle. A failing
cycle closes that record ``failed`` with its error (so the definition shows failing,
rule 18) and tells Slack once; the retries, spaced by a doubling backoff, count what
they commit in the same failed record. The first cycle that succeeds again tells Slack
once and opens the next record. A signal closes the record ``succeeded`` with a note
saying the follower stopped. So the records' rows add up to what was written, as a
run's do, and the run-record table grows by failures and restarts, not by cycles.

A definition problem (exit 2: the catalogs no longer match the definition) stops
following that definition, says so, and leaves the others going.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from services.base import (
    EXIT_CONFIGURATION,
    Databases,
    ExportDefinition,
    LockHeldError,
    RunResult,
    RunSettings,
    RunStatus,
    StoppedError,
    TablesyncError,
    first_line,
    redact,
    stopping,
)
from services.reporting import DEFAULT_TIMEOUT_S, SlackSettings, notify_alert, notify_run
from services.reporting import resume_command as resume_command_of
from services.store import (
    Cycle,
    DeleteLimit,
    FollowerState,
    record_cycle,
    record_state,
    start_session,
)
from services.sync import FollowedRun

log = logging.getLogger(__name__)

# The longest a failing definition waits between two tries.
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class FollowSetup:
    """What every followed definition of one process shares."""

    job: str
    dbs: Databases
    settings: RunSettings
    slack: SlackSettings | None
    deletes: DeleteLimit
    command: str
    every_s: float


@dataclass
class Follower:
    """One definition kept in step: its open run, its session row, its failure streak."""

    name: str
    definition: ExportDefinition
    setup: FollowSetup
    followed: FollowedRun | None = None
    session_id: int | None = None
    failures: int = 0  # cycles failed in a row
    next_try: float = 0.0  # time.monotonic() of the next cycle
    done: TablesyncError | None = None  # a definition problem: no longer followed
    waiting_for_lock: bool = False
    last: Cycle | None = field(default=None)

    # -- one step ----------------------------------------------------------------------

    def step(self) -> None:
        """One cycle (opening the definition first if needed); a failure is reported and
        backed off, a definition problem ends this follower. StoppedError is raised."""
        try:
            self._ensure_session()
            followed = self._opened()
            if followed is None:  # another run holds the lock: try again next cycle
                self.next_try = time.monotonic() + self.setup.every_s
                return
            if self.failures:
                followed.recover()
            outcome = followed.cycle()
        except StoppedError:
            raise
        except Exception as exc:  # every failure of a cycle is reported, never raised
            stopping.check()  # what a stop made fail is the stop, not a failure
            self._failed(exc)
            return
        self.last = Cycle(outcome.rows, outcome.duration_s)
        log.debug("%s: cycle: %d row(s) in %.3f s", self.name, outcome.rows, outcome.duration_s)
        if self.failures:
            self._recovered()
        self._heartbeat(self.last, FollowerState.FOLLOWING)
        self.next_try = time.monotonic() + self.setup.every_s

    def _opened(self) -> FollowedRun | None:
        if self.followed is not None:
            return self.followed
        setup = self.setup
        try:
            self.followed = FollowedRun.open(
                setup.dbs,
                setup.job,
                self.name,
                self.definition,
                settings=setup.settings,
                command=setup.command,
                deletes=setup.deletes,
            )
        except LockHeldError as exc:
            if not self.waiting_for_lock:
                log.warning("%s: waiting for the lock: %s", self.name, redact(first_line(exc)))
            self.waiting_for_lock = True
            return None
        self.waiting_for_lock = False
        log.info("%s: following every %gs", self.name, setup.every_s)
        return self.followed

    # -- failures ----------------------------------------------------------------------

    def _failed(self, exc: Exception) -> None:
        error, result = self._classified(exc)
        self.failures += 1
        if error.exit_code == EXIT_CONFIGURATION:
            self._give_up(error, result)
            return
        delay = min(self.setup.every_s * 2**self.failures, MAX_BACKOFF_S)
        self.next_try = time.monotonic() + delay
        if self.failures == 1:  # told once per streak: Slack, the record (failing, rule 18)
            log.error("%s: cycle failed, retrying in %.0f s: %s", self.name, delay, error)
            self._tell(result)
        else:
            log.warning("%s: still failing (try %d): %s", self.name, self.failures, error)
        self._state(FollowerState.RETRYING, str(error))

    def _classified(self, exc: Exception) -> tuple[TablesyncError, RunResult | None]:
        """The error and its run's result: the open run closed ``failed`` with it."""
        if self.followed is not None:  # the same failed record, its error brought up to date
            error = self.followed.fail(exc, again=self.failures > 0)
            return error, error.result
        if isinstance(exc, TablesyncError):
            return exc, exc.result
        if isinstance(exc, psycopg.Error | PoolTimeout):
            self.setup.dbs.forget_failures()
            return TablesyncError(f"{self.name}: {redact(first_line(exc))}"), None
        raise exc

    def _give_up(self, error: TablesyncError, result: RunResult | None) -> None:
        log.error("%s: no longer followed: %s", self.name, error)
        self.done = error
        self._tell(result)
        self._state(FollowerState.STOPPED, f"no longer followed: {error}")
        if self.followed is not None:
            self.followed.release()
            self.followed = None

    def _recovered(self) -> None:
        failures, self.failures = self.failures, 0
        assert self.followed is not None
        self.followed.new_record(self.setup.command)
        log.info("%s: following again after %d failed tries", self.name, failures)
        title = f"tablesync {self.setup.job}: {self.name} recovered"
        lines = [f"following again after {failures} failed cycle(s)"]
        notify_alert(title, lines, self.setup.slack, timeout_s=DEFAULT_TIMEOUT_S)

    def _tell(self, result: RunResult | None) -> None:
        if result is None:
            title = f"tablesync {self.setup.job}: following {self.name} failed"
            notify_alert(title, ["see the follower's log"], self.setup.slack)
            return
        resume = resume_command_of(self.setup.job, self.name)
        notify_run(result, self.setup.slack, resume_command=resume, timeout_s=DEFAULT_TIMEOUT_S)

    # -- the end -----------------------------------------------------------------------

    def stop(self, why: str) -> None:
        """Close the record (succeeded: an end of service) and the session row."""
        if self.followed is not None:
            status = RunStatus.FAILED if self.failures else RunStatus.SUCCEEDED
            try:
                self.followed.close(status, note=f"follower stopped: {why}")
            except Exception as exc:  # noqa: BLE001 - the others must still be closed
                log.warning("%s: could not close its run record: %s", self.name, exc)
            self.followed = None
        if self.done is None:
            self._state(FollowerState.STOPPED, None)

    # -- the session row ---------------------------------------------------------------

    def _ensure_session(self) -> None:
        if self.session_id is not None:
            return
        result = self._with_analytics(
            lambda conn: start_session(
                conn,
                job=self.setup.job,
                definition=self.name,
                host=_host(),
                pid=_pid(),
                every_s=self.setup.every_s,
            )
        )
        self.session_id = result if isinstance(result, int) else None

    def _heartbeat(self, cycle: Cycle, state: FollowerState) -> None:
        followed, session_id = self.followed, self.session_id
        if session_id is None or followed is None:
            return
        try:  # on the run's warm connection: an idle cycle costs one small UPDATE here
            record_cycle(followed.run.analytics, session_id, cycle, state=state,
                         run_id=followed.run.run_id)  # fmt: skip
        except psycopg.Error as exc:
            log.warning("%s: heartbeat not written: %s", self.name, redact(first_line(exc)))

    def _state(self, state: FollowerState, error: str | None) -> None:
        session_id = self.session_id
        if session_id is not None:
            self._with_analytics(lambda conn: record_state(conn, session_id, state, error))

    def _with_analytics(self, work: Any) -> object:
        """``work(conn)`` on a pooled analytics connection; a failure is logged, not raised
        (the live figures must never stop the follower)."""
        try:
            with self.setup.dbs.analytics.connection(timeout=5.0) as conn:
                conn.autocommit = True
                return work(conn)
        except (psycopg.Error, PoolTimeout, TablesyncError) as exc:
            log.warning("%s: follower state not written: %s", self.name, redact(first_line(exc)))
            return None


def _host() -> str:
    import socket

    return socket.gethostname()


def _pid() -> int:
    import os

    return os.getpid()
