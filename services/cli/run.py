"""Run a job's definitions: each with its progress display, Slack and result line."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections.abc import Callable, Mapping

import click

from services.base.definition import ExportDefinition
from services.base.errors import JobFailedError, LockHeldError, StoppedError, TablesyncError
from services.base.results import RunResult
from services.cli.definitions import select_definitions

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
    error.
    """
    from services.base import stopping
    from services.base.db import Databases
    from services.base.settings import DatabaseUrls, run_origin
    from services.cli.parallel import pool_size_for, run_all
    from services.reporting.notify import DEFAULT_TIMEOUT_S, SlackSettings, notify_run
    from services.reporting.progress import reporting
    from services.reporting.report import resume_command
    from services.store.delete_guard import DeleteLimit
    from services.store.estimate import lazy_count
    from services.sync.process_definition import process_definition
    from services.sync.resume import ResumePolicy
    from services.sync.watermark import writer_wait_s

    environ = os.environ if environ is None else environ
    selected = select_definitions(job, definitions, names, all_definitions=all_definitions)
    urls = DatabaseUrls.from_env(environ)
    writer_wait_s(None, environ)  # a bad TABLESYNC_WRITER_WAIT_S is exit 2 before any write
    stopping.configure(environ)
    ResumePolicy.from_env(environ)  # a bad TABLESYNC_RUN_RETRIES too
    slack = SlackSettings.from_env(environ)
    origin = run_origin(environ)  # a bad TABLESYNC_ORIGIN is exit 2 before any write too
    deletes = DeleteLimit.from_env(environ, allowed=yes)  # a bad fraction: exit 2 first
    command = command or shlex.join([sys.executable, *sys.argv])
    with Databases(urls, max_size=pool_size_for(jobs)) as dbs:

        def run_one(name: str) -> tuple[RunResult | None, TablesyncError | None]:
            resume = resume_command(job, name)
            error: TablesyncError | None = None
            result: RunResult | None = None
            # Bars of parallel runs would overwrite each other: log lines then.
            tty = progress_tty if jobs == 1 else False
            # Found only if a display asks for it: a short run never pays for it.
            total = lazy_count(dbs, job, name, definitions[name])
            if stopping.requested():  # a definition not begun is not begun
                return None, None
            try:
                with reporting(name, total, tty=tty) as progress:
                    result = process_definition(
                        job,
                        name,
                        definitions[name],
                        dbs,
                        command=command,
                        progress=progress,
                        origin=origin,
                        deletes=deletes,
                    )
            except TablesyncError as exc:
                if skip_if_locked and isinstance(exc, LockHeldError):
                    log.info("%s: skipped: %s", name, exc)
                    return None, None
                error, result = exc, exc.result
            if result is not None:
                # Once stopping, the post must fit in what is left of the stop's time.
                budget = min(DEFAULT_TIMEOUT_S, stopping.remaining_s())
                notify_run(result, slack, resume_command=resume, timeout_s=budget)
                if on_result is not None:
                    on_result(result)
            return result, error

        with stopping.stoppable():
            outcomes = run_all(selected, run_one, jobs=jobs)
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
    from services.reporting.report import results_json, summary_line

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
