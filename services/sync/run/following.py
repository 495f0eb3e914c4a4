"""The engine's side of ``--follow``: one definition kept in step, cycle after cycle, on the
connections, lock, plan and run record it opened once.

``FollowedRun.open`` does what a run's start does (check the definition, take its lock
alone, open a run record), and ``cycle`` what a run's body does (fix the watermark,
commit batches up to it, each with its position and the record's counts), again and
again on the same connections: psycopg prepares a statement the fifth time it runs on
a connection, so the warm cycles reuse server-side prepared statements. The
definition is checked again only when a catalog fingerprint of its two tables changes
(services/store/fingerprint.py), not every cycle.

A definition with no saved position (a first load) is loaded by an ordinary run first:
a backfill is shared work with its own record and lock mode (services/sync/run/run_lock.py).
The follower's records, failures and heartbeats are services/follow/'s to keep.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import ExitStack
from dataclasses import dataclass

from services.base import (
    Databases,
    ExportDefinition,
    Position,
    PreflightError,
    RunResult,
    RunSettings,
    RunStatus,
    TablesyncError,
    load_position,
    redact,
)
from services.store import DeleteLimit, catalog_fingerprint, plan_definition, start_run
from services.sync.run.process_definition import (
    close_run,
    fail_run,
    process_definition,
    sync_resuming,
)
from services.sync.run.resume import Resumes
from services.sync.run.route_choice import worker_count_for
from services.sync.run.run_lock import unfinished_backfill
from services.sync.run.run_state import (
    ProgressCallback,
    Run,
    RunContext,
    begin,
    new_result,
    reconnect,
)
from services.sync.write import run_guard


@dataclass(frozen=True)
class CycleOutcome:
    """What one cycle did: rows read from core and committed, and its watermark's excuse."""

    rows: int
    duration_s: float
    held_back: str | None


class FollowedRun:
    """One followed definition: its run (connections, lock, plan, record) between cycles."""

    def __init__(self, run: Run, held: ExitStack) -> None:
        self.run, self._held = run, held
        self._fingerprints = self._catalogs()

    @property
    def dbs(self) -> Databases:
        return self.run.dbs

    @classmethod
    def open(
        cls,
        dbs: Databases,
        job: str,
        name: str,
        definition: ExportDefinition,
        *,
        settings: RunSettings,
        command: str,
        deletes: DeleteLimit,
    ) -> FollowedRun:
        """Check ``definition``, take its lock and open its run record; a first load (or a
        backfill left unfinished) is run to its end first, as an ordinary run. Raises
        PreflightError (recorded, rule 18), LockHeldError, or a failed first load's error."""
        while True:
            if _first_load_due(dbs, job, name):
                process_definition(
                    job, name, definition, dbs, settings=settings, command=command, deletes=deletes
                )
            held = ExitStack()
            try:
                workers = worker_count_for(definition, settings)
                context = RunContext(dbs, settings, workers, command=command, deletes=deletes)
                result = new_result(job, name, definition)
                run, saved = begin(context, definition, result, held)
                if run.backfill is None and saved is not None:
                    return cls(run, held)
            except BaseException:
                held.close()
                raise
            # Position reset meanwhile (--reset): a backfill again, by an ordinary run.
            _end_quietly(run, held, note="found no position: a first load runs instead")

    @property
    def result(self) -> RunResult:
        return self.run.result

    def cycle(self, progress: ProgressCallback | None = None) -> CycleOutcome:
        """Commit what core holds past the position, up to a watermark fixed now; the
        definition is checked again first when its catalogs changed (PreflightError)."""
        started = time.monotonic()
        run = self.run
        self._recheck_if_changed()
        read_before = run.result.counts.read
        # Each cycle gets the budgets a run gets: resumes, and the mass-delete guard.
        run.resumes = Resumes(run.resumes.policy)
        run.guard = run_guard(run.plan, run.context.delete_limit)
        run.context = dataclasses.replace(run.context, progress=progress)
        position = Position.from_dict(run.result.position_after)
        sync_resuming(run, position)
        rows = run.result.counts.read - read_before
        return CycleOutcome(rows, time.monotonic() - started, run.result.held_back)

    def _catalogs(self) -> tuple[str, str]:
        source = self.run.plan.definition.source
        destination = self.run.plan.definition.destination
        return (
            catalog_fingerprint(self.run.core, source.schema_, source.table),
            catalog_fingerprint(self.run.analytics, destination.schema_, destination.table),
        )

    def _recheck_if_changed(self) -> None:
        now = self._catalogs()
        if now == self._fingerprints:
            return
        plan = self.run.plan
        self.run.plan = plan_definition(
            plan.job, plan.name, plan.definition, core=self.run.core, analytics=self.run.analytics
        )
        self._fingerprints = now

    def fail(self, exc: BaseException, *, again: bool = False) -> TablesyncError:
        """The error ``exc`` stands for, reported as a run's (failure file, log); the record
        is closed ``failed`` with it. ``again``: a retry failed, its row at fault (if any)
        already counted by the first failure."""
        run = self.run
        counted = dataclasses.replace(run.result.counts)
        if isinstance(exc, PreflightError):  # the re-check, before this cycle wrote anything
            error: TablesyncError = exc
            run.result.error = redact(str(exc))
        else:
            error = fail_run(run, exc)
        if again:
            run.result.counts = counted
        run.result.status, run.result.finished_at = RunStatus.FAILED, time.time()
        run.result.exit_code = error.exit_code
        close_run(run, RunStatus.FAILED, run.result.error)
        error.result = run.result
        return error

    def recover(self) -> None:
        """Before a retry: fresh connections for lost ones (the lock again with them); the
        position and counts as the committed batches left them."""
        reconnect(self.run)
        # Closed failed when the failure happened, unless analytics was down then.
        close_run(self.run, RunStatus.FAILED, self.run.result.error)
        self._fingerprints = ("", "")  # check the definition again: it may have changed

    def new_record(self, command: str) -> None:
        """Count the cycles from here on in a new ``running`` record (after a recovery)."""
        run = self.run
        position = Position.from_dict(run.result.position_after)
        result = new_result(run.plan.job, run.plan.name, run.plan.definition)
        result.position_before = result.position_after = run.result.position_after
        who = result.identity(command, run.settings.origin)
        result.run_id = start_run(run.analytics, who, position)
        run.result, run.run_id = result, result.run_id

    def release(self) -> None:
        """Let go of the lock and connections (the record was closed by ``fail``)."""
        self._held.close()

    def close(self, status: RunStatus, *, note: str | None = None) -> None:
        """Close the record (``status``, ``note``) and let go of the lock and connections."""
        run = self.run
        run.result.status, run.result.finished_at = status, time.time()
        try:
            close_run(run, status, None, note=note)
        finally:
            self._held.close()


def _end_quietly(run: Run, held: ExitStack, *, note: str) -> None:
    """Close a record that did nothing (its lock let go) so an ordinary run can start."""
    try:
        close_run(run, RunStatus.SUCCEEDED, None, note=note)
    finally:
        held.close()


def _first_load_due(dbs: Databases, job: str, name: str) -> bool:
    """No saved position, or a backfill left unfinished: a first load's work."""
    with dbs.analytics.connection() as analytics:
        analytics.autocommit = True
        saved = load_position(analytics, job, name)
        return saved is None or unfinished_backfill(analytics, job, name) is not None
