#!/usr/bin/env python
"""tablesync's command line: ``python run_job.py <job> [options]``.

Each job lives in ``jobs/<job_name>/handler.py`` and is loaded by name when
asked for, so a new job is a new folder (the root command:
services/cli/root.py). This is the one place where errors become exit codes
and ``error:`` lines.
"""

from __future__ import annotations

import gc
import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    # Start-up (click, psycopg, pydantic, the engine, a job's definitions)
    # allocates many objects and frees few, so the cyclic collector walks them
    # again and again for nothing: ~30 ms of a ~250 ms start. It is off until the
    # job is loaded; then the start-up objects are frozen out of later collections.
    gc.disable()
    from services.base import stopping
    from services.cli.root import end_of_startup, root_command
    from services.console.command import serve_command

    cli = root_command(lambda: serve_command)

    stopping.install()  # SIGTERM and SIGINT: stop cleanly, exit 143 / 130 (rule 13)
    args = argv or sys.argv
    obj: dict[str, bool] = {"verbose": "--verbose" in args or "-v" in args}
    try:
        # A command ends with a code of its own by raising click's Exit, which click
        # hands back here rather than raising (serve stopped by Ctrl-C: 130).
        code = cli.main(args=argv, prog_name="run_job.py", standalone_mode=False, obj=obj)
    except Exception as exc:
        return exit_code(exc, verbose=obj.get("verbose", False))
    finally:
        end_of_startup()  # in case no job was loaded
    return code if isinstance(code, int) else 0


def exit_code(exc: Exception, *, verbose: bool) -> int:
    """The exit code ``exc`` ends the command line with, once its ``error:`` lines are on
    stderr; anything but tablesync's and click's own errors is raised again."""
    import traceback

    import click

    from services.base.errors import EXIT_CONFIGURATION, TablesyncError
    from services.base.redact import redact

    if isinstance(exc, TablesyncError):
        if verbose:  # redacted too: a driver's error may echo a connection string
            click.echo(redact(traceback.format_exc()), err=True, nl=False)
        for line in _error_lines(exc):
            click.echo(line, err=True)
        return exc.exit_code
    if isinstance(exc, click.exceptions.Exit):
        return int(exc.exit_code)
    if isinstance(exc, click.Abort):
        click.echo("error: aborted", err=True)
        return 1
    if isinstance(exc, click.UsageError):
        click.echo(f"error: {redact(exc.format_message())}", err=True)
        return EXIT_CONFIGURATION
    raise exc


def _error_lines(exc: Exception) -> list[str]:
    from services.base.errors import JobFailedError
    from services.base.redact import redact

    errors = exc.errors if isinstance(exc, JobFailedError) else [exc]
    lines: list[str] = []
    for error in errors:
        problems = getattr(error, "problems", None) or [str(error)]
        lines.extend(f"error: {redact(p)}" for p in problems)
    return lines


if __name__ == "__main__":
    sys.exit(main())
