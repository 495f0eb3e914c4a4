#!/usr/bin/env python
"""tablesync's command line: ``python run_job.py <job> [options]``.

Each job lives in ``jobs/<job_name>/handler.py`` and is loaded by name when
asked for, so a new job is a new folder. This is the one place where errors
become exit codes and ``error:`` lines.
"""

from __future__ import annotations

import gc

# Start-up (click, psycopg, pydantic, the engine, a job's definitions)
# allocates many objects and frees few, so the cyclic collector walks them
# again and again for nothing: ~30 ms of a ~250 ms start. It is off until the
# job is loaded; then the start-up objects are frozen out of later collections.
gc.disable()

import importlib  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402

from services.base import stopping  # noqa: E402
from services.base.errors import (  # noqa: E402
    EXIT_CONFIGURATION,
    JobFailedError,
    TablesyncError,
    UnknownJobError,
)
from services.base.redact import redact  # noqa: E402
from services.base.suggest import did_you_mean  # noqa: E402

JOBS_DIR = Path(__file__).resolve().parent / "jobs"


def available_jobs() -> list[str]:
    """Job names as typed on the command line (folder names with - for _)."""
    return sorted(
        p.parent.name.replace("_", "-")
        for p in JOBS_DIR.glob("*/handler.py")
        if p.parent.name[0] != "_"
    )


def job_module(job: str) -> Any:
    """``jobs/<job>/handler.py`` as a module."""
    return importlib.import_module(f"jobs.{job.replace('-', '_')}.handler")


@click.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="TCP port."
)
def serve_command(host: str, port: int) -> None:
    """The web console: every job's definitions, runs, a JSON API, health and metrics.

    Listens on 127.0.0.1 unless --host says otherwise; any other address needs
    TABLESYNC_API_TOKEN (exit 2 without it). Without a token the console is read-only.
    Stops on SIGTERM or Ctrl-C, stopping the runs it started first.
    """
    from services.console.serve import serve

    loaders = {
        job: module.load_definitions
        for job in available_jobs()
        if hasattr(module := job_module(job), "load_definitions")
    }
    end_of_startup()
    try:
        serve(host, port, loaders)
    except KeyboardInterrupt:
        raise click.exceptions.Exit(130) from None


def scaffold_command() -> click.Command:
    """``scaffold``: destination migrations and definitions from core's catalog."""
    from services.cli.scaffold import scaffold_command as build

    def definitions_of(job: str) -> Any:
        if job not in available_jobs():
            raise UnknownJobError(f"unknown job {job!r}; known jobs: {', '.join(available_jobs())}")
        return job_module(job).load_definitions()

    return build(definitions_of)


# Commands that are not jobs: they work on every job's databases and definitions.
def _serve() -> click.Command:
    return serve_command


BUILTIN_COMMANDS: dict[str, Callable[[], click.Command]] = {
    "scaffold": scaffold_command,
    "serve": _serve,
}


class JobGroup(click.Group):
    """Finds commands in jobs/<job>/handler.py instead of a fixed list, besides the built-in
    ``scaffold`` and ``serve``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*available_jobs(), *BUILTIN_COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in BUILTIN_COMMANDS:
            return BUILTIN_COMMANDS[cmd_name]()
        if cmd_name not in available_jobs():
            return None
        module = job_module(cmd_name)
        end_of_startup()
        found = getattr(module, "command", None)
        if isinstance(found, click.Command):
            return found
        return click.Command(cmd_name, callback=module.handle, help=module.__doc__)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise UnknownJobError(
                f"unknown job {name!r}; known jobs: {', '.join(available_jobs()) or '(none)'}"
                + did_you_mean(name, self.list_commands(ctx))
            )
        return super().resolve_command(ctx, args)


@click.group(cls=JobGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tablesync", message="tablesync %(version)s")
@click.option("--verbose", "-v", is_flag=True, help="Debug logs and tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """tablesync: keep analytics tables in step with core, incrementally.

    Run `python run_job.py JOB --help` for a job's options and definitions.
    """
    from services.base.settings import load_dotenv_file
    from services.reporting.logs import configure_logging

    ctx.ensure_object(dict)
    ctx.obj["verbose"] = ctx.obj.get("verbose", False) or verbose
    load_dotenv_file()
    configure_logging(verbose=ctx.obj["verbose"])


def end_of_startup() -> None:
    """Collect again, leaving what start-up built (modules, definitions) out of it."""
    gc.freeze()
    gc.enable()


def _error_lines(exc: TablesyncError) -> list[str]:
    errors = exc.errors if isinstance(exc, JobFailedError) else [exc]
    lines: list[str] = []
    for error in errors:
        problems = getattr(error, "problems", None) or [str(error)]
        lines.extend(f"error: {redact(p)}" for p in problems)
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    stopping.install()  # SIGTERM and SIGINT: stop cleanly, exit 143 / 130 (rule 13)
    obj: dict[str, bool] = {
        "verbose": "--verbose" in (argv or sys.argv) or "-v" in (argv or sys.argv)
    }
    try:
        # A command ends with a code of its own by raising click's Exit, which click
        # hands back here rather than raising (serve stopped by Ctrl-C: 130).
        code = cli.main(args=argv, prog_name="run_job.py", standalone_mode=False, obj=obj)
    except TablesyncError as exc:
        if obj.get("verbose"):  # redacted too: a driver's error may echo a connection string
            click.echo(redact(traceback.format_exc()), err=True, nl=False)
        for line in _error_lines(exc):
            click.echo(line, err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("error: aborted", err=True)
        return 1
    except click.UsageError as exc:
        click.echo(f"error: {redact(exc.format_message())}", err=True)
        return EXIT_CONFIGURATION
    finally:
        end_of_startup()  # in case no job was loaded
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
