"""Run a job's definitions: each with its progress display, Slack and result line."""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from services.base import (
    ExportDefinition,
    JobFailedError,
    LockHeldError,
    RunResult,
    StoppedError,
    TablesyncError,
)
from services.cli.definitions import select_definitions

if TYPE_CHECKING:  # imported when a run starts: --help and usage errors never pay for them
    from services.base import Databases, RunSettings
    from services.reporting import SlackSettings
    from services.store import DeleteLimit

log = logging.getLogger(__name__)


def run_definitions(
    job: str,
    definitions: Mapping[str, ExportDefinition],
    names: list[str],
    *,
    all_definitions: bool = False,
    environ: Mapping[str, str] | None = None,
    command: str | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    jobs: int = 1,
    progress_tty: bool | None = None,
    yes: bool = False,
    skip_if_locked: bool = False,
) -> list[RunResult]:
    """Run the named definitions, up to ``jobs`` at once; raise JobFailedError when any failed.

    Every definition runs even when an earlier one failed: they are
    independent, and each failure is reported on its own. ``yes`` lets a run delete
    more than TABLESYNC_MAX_DELETE_FRACTION of a destination (soft deletes).
    Once a signal asks to stop, the runs under way stop and no other starts.
    ``skip_if_locked`` makes a definition whose lock another run holds a skip, not an
    error. ``environ`` (default: the process's) is read once, before anything is
    written, and the runs use exactly what was read from it.
    """
    from services.base import stopping
    from services.cli.parallel import run_all

    selected = select_definitions(job, definitions, names, all_definitions=all_definitions)
    runs = _Runs(
        job,
        definitions,
        _Setup.read(environ, yes=yes, jobs=jobs),
        command=command or shlex.join([sys.executable, *sys.argv]),
        on_result=on_result,
        skip_if_locked=skip_if_locked,
        tty=progress_tty if jobs == 1 else False,  # parallel bars would overwrite each other
    )
    with runs.setup.databases as dbs, stopping.stoppable():
        outcomes = run_all(selected, lambda name: runs.one(dbs, name), jobs=jobs)
    return _results_or_raise(outcomes)


Outcome = tuple[RunResult | None, TablesyncError | None]


@dataclass(frozen=True)
class _Setup:
    """What every run of one invocation runs with, read and checked before any run."""

    settings: RunSettings
    databases: Databases
    slack: SlackSettings | None
    deletes: DeleteLimit

    @classmethod
    def read(cls, environ: Mapping[str, str] | None, *, yes: bool, jobs: int) -> _Setup:
        """Every variable of ``environ`` (None: the process's) the runs need; a bad one is
        exit 2 before any write."""
        from services.base import stopping
        from services.cli.invocation import Invocation
        from services.cli.parallel import pool_size_for
        from services.store import DeleteLimit

        read = Invocation.read(environ)
        settings = read.settings
        stopping.configure(settings.stop_timeout_s)
        deletes = DeleteLimit(settings.max_delete_fraction, allowed=yes)
        return cls(settings, read.databases(max_size=pool_size_for(jobs)), read.slack, deletes)


@dataclass(frozen=True)
class _Runs:
    """One invocation's definitions, what they run with and who hears of each result."""

    job: str
    definitions: Mapping[str, ExportDefinition]
    setup: _Setup
    command: str
    on_result: Callable[[RunResult], None] | None
    skip_if_locked: bool
    tty: bool | None

    def one(self, dbs: Databases, name: str) -> Outcome:
        """Run ``name``: its result and its error, never raised (the others go on)."""
        from services.base import stopping
        from services.reporting import reporting
        from services.store import lazy_count
        from services.sync import process_definition

        # Found only if a display asks for it: a short run never pays for it.
        total = lazy_count(dbs, self.job, name, self.definitions[name])
        if stopping.requested():  # a definition not begun is not begun
            return None, None
        settings = self.setup.settings
        try:
            every_s = settings.progress_every_s
            with reporting(name, total, tty=self.tty, every_s=every_s) as progress:
                result = process_definition(
                    self.job,
                    name,
                    self.definitions[name],
                    dbs,
                    settings=settings,
                    command=self.command,
                    progress=progress,
                    deletes=self.setup.deletes,
                )
        except TablesyncError as exc:
            if self.skip_if_locked and isinstance(exc, LockHeldError):
                log.info("%s: skipped: %s", name, exc)
                return None, None
            self._tell(name, exc.result)
            return exc.result, exc
        self._tell(name, result)
        return result, None

    def _tell(self, name: str, result: RunResult | None) -> None:
        """Slack, and the caller's ``on_result``, about a run that began."""
        from services.base import stopping
        from services.reporting import DEFAULT_TIMEOUT_S, notify_run, resume_command

        if result is None:
            return
        # Once stopping, the post must fit in what is left of the stop's time.
        budget = min(DEFAULT_TIMEOUT_S, stopping.remaining_s())
        resume = resume_command(self.job, name)
        notify_run(result, self.setup.slack, resume_command=resume, timeout_s=budget)
        if self.on_result is not None:
            self.on_result(result)


def _results_or_raise(outcomes: list[Outcome]) -> list[RunResult]:
    """The results; JobFailedError with every error (a stop included) when there is one."""
    from services.base import stopping

    results = [result for result, _ in outcomes if result is not None]
    errors = [error for _, error in outcomes if error is not None]
    stopped = stopping.error()
    if stopped is not None and not any(isinstance(e, StoppedError) for e in errors):
        errors.append(stopped)  # stopped before any run began: still never silent
    if errors:
        raise JobFailedError(errors, results=results)
    return results


def run_and_print(
    job: str,
    definitions: Mapping[str, ExportDefinition],
    names: list[str],
    all_definitions: bool,
    *,
    json_output: bool,
    jobs: int,
    yes: bool = False,
    skip_if_locked: bool = False,
) -> None:
    """``run_definitions``, printing a summary line per definition as it ends, or with
    ``json_output`` one JSON array of every result at the end (failed runs included)."""
    from services.reporting import results_json, summary_line

    def echo(result: RunResult) -> None:
        if not json_output:
            click.echo(summary_line(result))

    try:
        results = run_definitions(
            job,
            definitions,
            names,
            all_definitions=all_definitions,
            on_result=echo,
            jobs=jobs,
            progress_tty=False if json_output else None,
            yes=yes,
            skip_if_locked=skip_if_locked,
        )
    except JobFailedError as exc:
        if json_output:
            click.echo(results_json(exc.results).decode())
        raise
    if json_output:
        click.echo(results_json(results).decode())
