"""A repair's deletes behind the guard, its run record and its Slack message.

Both verify modes end a repair here: the extra rows are counted, the guard
(services/store/delete_guard.py) refuses a mass deletion before anything is
deleted unless ``--yes`` was given, and either way a run record and Slack
say what happened (a refusal notifies like a failed run).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from typing import Any

import psycopg

from services.base import (
    DEFAULT_MAX_DELETE_FRACTION,
    MassDeleteError,
    RunCounts,
    RunIdentity,
    RunResult,
    RunStatus,
    load_position,
)
from services.reporting import SlackSettings, notify_run
from services.store import DeleteGuard, SyncPlan, record_operation

Conn = psycopg.Connection[Any]


def repair_command(job: str, name: str, *, keys: bool, yes: bool = False) -> str:
    """The command line of this repair (``yes``: the one that goes past the guard)."""
    flags = ["--verify", *(["--keys"] if keys else []), "--repair", *(["--yes"] if yes else [])]
    return shlex.join(["python", "run_job.py", job, *flags, name])


class Repair:
    """One repair's settings (TABLESYNC_MAX_DELETE_FRACTION and Slack, as the command read
    them before anything was written)."""

    def __init__(
        self,
        *,
        keys: bool,
        yes: bool,
        command: str,
        fraction: float = DEFAULT_MAX_DELETE_FRACTION,
        slack: SlackSettings | None = None,
    ) -> None:
        self.keys, self.yes, self.command = keys, yes, command
        self.fraction, self.slack = fraction, slack
        self.started_at = time.time()

    def delete(self, analytics: Conn, plan: SyncPlan, extra: int, run: Callable[[], int]) -> int:
        """Delete ``extra`` rows with ``run`` (it returns the rows deleted) past the guard,
        in one transaction with the run record; MassDeleteError when refused."""
        guard = DeleteGuard(plan, self.fraction, allowed=self.yes)
        resume = repair_command(plan.job, plan.name, keys=self.keys, yes=True)
        try:
            guard.check(analytics, deleting=extra, hint=f"run `{resume}` to delete them")
        except MassDeleteError as refused:
            refused.result = self.record(analytics, plan, RunCounts(), error=refused)
            self.tell(refused.result)
            raise
        with analytics.transaction():
            deleted = run()
            note = f"repair: deleted {deleted:,} extra row(s) that core no longer has"
            result = self.record(analytics, plan, RunCounts(deleted=deleted), note=note)
        self.tell(result)  # after the commit: Slack hears only of what happened
        return deleted

    def tell(self, result: RunResult) -> None:
        """Slack: a refusal always, a success when SLACK_NOTIFY=all; never raises."""
        failed = result.status is RunStatus.FAILED
        resume = repair_command(result.job, result.definition, keys=self.keys, yes=failed)
        notify_run(result, self.slack, resume_command=resume)

    def record(
        self,
        analytics: Conn,
        plan: SyncPlan,
        counts: RunCounts,
        *,
        note: str = "",
        error: MassDeleteError | None = None,
    ) -> RunResult:
        """The repair's run record (failed when refused), and its result for Slack."""
        position = load_position(analytics, plan.job, plan.name)
        status = RunStatus.FAILED if error else RunStatus.SUCCEEDED
        who = RunIdentity(plan.job, plan.name, self.command)
        run_id = record_operation(
            analytics,
            who,
            before=position,
            after=position,
            counts=counts,
            note=None if error else note,
            error=None if error is None else str(error),
        )
        cursor = plan.definition.source.cursor
        result = RunResult(
            job=who.job,
            definition=who.definition,
            status=status,
            run_id=run_id,
            counts=counts,
            position_before=None if position is None else position.to_dict(),
            started_at=self.started_at,
            finished_at=time.time(),
            error=None if error is None else str(error),
            exit_code=0 if error is None else error.exit_code,
            host=who.host,
            pid=who.pid,
            cursor_field=cursor.field,
            id_field=cursor.id_field,
        )
        return result
