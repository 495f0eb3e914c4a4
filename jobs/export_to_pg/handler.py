"""export-to-pg: copy what changed in core since the last run into analytics."""

from __future__ import annotations

import importlib
import shlex
import sys
from collections.abc import Mapping
from typing import Any

import click

from services.definition import ExportDefinition
from services.errors import (
    InvalidDefinitionError,
    JobFailedError,
    TablesyncError,
    UnknownDefinitionError,
)
from services.results import RunResult

JOB = "export-to-pg"


def load_definitions() -> dict[str, ExportDefinition]:
    """The job's DEFINITIONS; an invalid one raises InvalidDefinitionError with every problem."""
    from pydantic import ValidationError

    from services.definition import validation_problems

    try:
        module = importlib.import_module("jobs.export_to_pg.config")
    except ValidationError as exc:
        problems = validation_problems(exc.title, exc)
        raise InvalidDefinitionError("; ".join(problems), problems=problems) from None
    definitions: dict[str, ExportDefinition] = module.DEFINITIONS
    return definitions


def select_definitions(
    definitions: Mapping[str, ExportDefinition], names: list[str], *, all_definitions: bool
) -> list[str]:
    """The names to run, in order; an unknown name raises UnknownDefinitionError."""
    known = ", ".join(definitions) or "(none)"
    if all_definitions and names:
        raise UnknownDefinitionError("give definition names or --all, not both")
    if all_definitions:
        return list(definitions)
    if not names:
        raise UnknownDefinitionError(f"name at least one definition, or --all; known: {known}")
    unknown = [n for n in names if n not in definitions]
    if unknown:
        raise UnknownDefinitionError(
            f"unknown definition {', '.join(map(repr, unknown))} for {JOB}; known: {known}"
        )
    return list(dict.fromkeys(names))


def handle(
    names: list[str],
    *,
    all_definitions: bool = False,
    environ: Mapping[str, str] | None = None,
    command: str | None = None,
    on_result: Any = None,
    jobs: int = 1,
    progress_tty: bool | None = None,
) -> list[RunResult]:
    """Run the named definitions, up to ``jobs`` at once; raise JobFailedError when any failed.

    Every definition runs even when an earlier one failed: they are
    independent, and each failure is reported on its own.
    """
    import os

    from services.db import Databases
    from services.estimate import lazy_estimate
    from services.notify import SlackSettings, notify_run
    from services.parallel import pool_size_for, run_all
    from services.process_definition import process_definition
    from services.progress import reporting
    from services.settings import DatabaseUrls
    from services.watermark import writer_wait_s

    environ = os.environ if environ is None else environ
    definitions = load_definitions()
    selected = select_definitions(definitions, names, all_definitions=all_definitions)
    urls = DatabaseUrls.from_env(environ)
    writer_wait_s(None, environ)  # a bad TABLESYNC_WRITER_WAIT_S is exit 2 before any write
    slack = SlackSettings.from_env(environ)
    command = command or shlex.join([sys.executable, *sys.argv])
    with Databases(urls, max_size=pool_size_for(jobs)) as dbs:

        def run_one(name: str) -> tuple[RunResult | None, TablesyncError | None]:
            resume = shlex.join(["python", "run_job.py", JOB, name])
            error: TablesyncError | None = None
            # Bars of parallel runs would overwrite each other: log lines then.
            tty = progress_tty if jobs == 1 else False
            # Found only if a display asks for it: a short run never pays for it.
            total = lazy_estimate(dbs, JOB, name, definitions[name])
            try:
                with reporting(name, total, tty=tty) as progress:
                    result = process_definition(
                        JOB, name, definitions[name], dbs, command=command, progress=progress
                    )
            except TablesyncError as exc:
                error, result = exc, exc.result
            if result is not None:
                notify_run(result, slack, resume_command=resume)
                if on_result is not None:
                    on_result(result)
            return result, error

        outcomes = run_all(selected, run_one, jobs=jobs)
    results = [result for result, _ in outcomes if result is not None]
    errors = [error for _, error in outcomes if error is not None]
    if errors:
        failure = JobFailedError(errors)
        failure.result = results
        raise failure
    return results


def show_status(
    names: list[str],
    *,
    all_definitions: bool = False,
    json_output: bool = False,
    max_lag_s: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Print the status view (default: every definition); with ``max_lag_s`` raise when stale.

    Reads only: no lock, no write, so it is safe while runs are busy.
    """
    import os

    from services.db import Databases
    from services.notify import SlackSettings
    from services.settings import DatabaseUrls
    from services.status import status_report
    from services.status_format import status_json, status_table

    environ = os.environ if environ is None else environ
    definitions = load_definitions()
    selected = select_definitions(definitions, names, all_definitions=all_definitions or not names)
    slack = SlackSettings.from_env(environ) if max_lag_s is not None else None
    with Databases(DatabaseUrls.from_env(environ)) as dbs:
        chosen = {name: definitions[name] for name in selected}
        report = status_report(JOB, chosen, dbs, max_lag_s=max_lag_s, slack=slack)
    click.echo(status_json(report).decode() if json_output else status_table(report))
    report.raise_if_stale()


def _max_lag(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from services.durations import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _help_text() -> str:
    lines = [
        "Copy what changed in core since the last run into analytics.",
        "",
        "Runs each named definition in order (or every one with --all). Exit 0 when all",
        "succeed, 1 when one failed while running, 2 on a usage or configuration error,",
        "75 when another run holds a definition's lock.",
        "",
        "\b",
        "Definitions:",
    ]
    try:
        for name, definition in load_definitions().items():
            src, dst = definition.source, definition.destination
            lines.append(f"  {name:<12} {src.schema_}.{src.table} -> {dst.schema_}.{dst.table}")
    except TablesyncError as exc:
        lines.append(f"  (cannot load: {exc})")
    return "\n".join(lines)


@click.command(name=JOB, help=_help_text())
@click.argument("names", nargs=-1, metavar="DEFINITION...")
@click.option("--all", "all_definitions", is_flag=True, help="Run every definition.")
@click.option("--json", "json_output", is_flag=True, help="Print results as JSON on stdout.")
@click.option(
    "--status",
    "status_view",
    is_flag=True,
    help="Show each definition's last run, position, pending rows and lag instead of"
    " running (default: every definition). Reads only; takes no lock.",
)
@click.option(
    "--max-lag",
    metavar="DURATION",
    callback=_max_lag,
    help="With --status: exit 1 and alert Slack when a definition trails core by more"
    " than DURATION (90s, 15m, 2h, 1d, 1h30m).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Run up to N definitions at once (each still holds its own lock).",
)
@click.option("--dry-run", is_flag=True, help="Check and show what a run would do; write nothing.")
@click.option("--verify", is_flag=True, help="Compare analytics with core; exit 1 on differences.")
@click.option("--repair", is_flag=True, help="With --verify: re-sync the ranges that differ.")
@click.option("--reset", is_flag=True, help="Move the saved position back to the start.")
@click.option("--from", "from_value", metavar="VALUE", help="Replay rows at and after this cursor.")
@click.option("--from-id", metavar="ID", help="With --from: start at this tie-breaker id.")
@click.option("--full-refresh", is_flag=True, help="Rebuild the destination aside, then swap.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--verbose", "-v", is_flag=True, help="Debug logs and tracebacks on errors.")
@click.pass_context
def command(
    ctx: click.Context,
    /,
    names: tuple[str, ...],
    all_definitions: bool,
    json_output: bool,
    status_view: bool,
    max_lag: float | None,
    jobs: int,
    dry_run: bool,
    verify: bool,
    repair: bool,
    reset: bool,
    from_value: str | None,
    from_id: str | None,
    full_refresh: bool,
    yes: bool,
    verbose: bool,
) -> None:
    from jobs.export_to_pg.operations import Operation, run_operation
    from services.report import results_json, summary_line

    if verbose and ctx.obj is not None:
        ctx.obj["verbose"] = True
    op = Operation(
        dry_run=dry_run,
        verify=verify,
        repair=repair,
        reset=reset,
        from_value=from_value,
        from_id=from_id,
        full_refresh=full_refresh,
        yes=yes,
        json_output=json_output,
        command=shlex.join(sys.argv),
    )
    if op.requested:
        op.check()
        defs = load_definitions()
        run_operation(
            JOB, defs, select_definitions(defs, list(names), all_definitions=all_definitions), op
        )
        return
    if max_lag is not None and not status_view:
        raise click.UsageError("--max-lag is a check of the status view: add --status")
    if status_view:
        show_status(
            list(names), all_definitions=all_definitions, json_output=json_output, max_lag_s=max_lag
        )
        return

    def echo(result: RunResult) -> None:
        if not json_output:
            click.echo(summary_line(result))

    try:
        results = handle(
            list(names),
            all_definitions=all_definitions,
            on_result=echo,
            jobs=jobs,
            progress_tty=False if json_output else None,
        )
    except JobFailedError as exc:
        if json_output:
            click.echo(results_json(exc.result or []).decode())
        raise
    if json_output:
        click.echo(results_json(results).decode())
