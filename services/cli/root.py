"""The root command of ``run_job.py``: the jobs found in ``jobs/<job>/handler.py``, and
the built-in ``scaffold`` and ``serve`` (services/console/command.py).

A job is loaded by name only when asked for, so a new job is a new folder;
``end_of_startup`` lets the cyclic collector back in once it is
(``run_job.py`` keeps it off while start-up allocates).
"""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from services.base import UnknownJobError, did_you_mean

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"


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


def end_of_startup() -> None:
    """Collect again, leaving what start-up built (modules, definitions) out of it."""
    gc.freeze()
    gc.enable()


def scaffold_command() -> click.Command:
    """``scaffold``: destination migrations and definitions from core's catalog."""
    from services.cli.scaffold import scaffold_command as build

    def definitions_of(job: str) -> Any:
        if job not in available_jobs():
            raise UnknownJobError(f"unknown job {job!r}; known jobs: {', '.join(available_jobs())}")
        return job_module(job).load_definitions()

    return build(definitions_of)


Builtin = Callable[[], click.Command]  # built when asked for: --help never pays for it


class JobGroup(click.Group):
    """Finds commands in jobs/<job>/handler.py instead of a fixed list, besides the built-in
    ones, which work on every job's databases and definitions (``scaffold``, ``serve``)."""

    def __init__(self, *args: Any, builtin: Mapping[str, Builtin], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.builtin = dict(builtin)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*available_jobs(), *self.builtin]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.builtin:
            return self.builtin[cmd_name]()
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


def root_command(serve: Builtin) -> click.Group:
    """``run_job.py``'s command: every job's, ``scaffold``, and ``serve`` (the console's,
    which this room may not import)."""

    help_options = {"help_option_names": ["-h", "--help"]}
    builtin = {"scaffold": scaffold_command, "serve": serve}

    @click.group(cls=JobGroup, builtin=builtin, context_settings=help_options)
    @click.version_option(package_name="tablesync", message="tablesync %(version)s")
    @click.option("--verbose", "-v", is_flag=True, help="Debug logs and tracebacks on errors.")
    @click.pass_context
    def cli(ctx: click.Context, verbose: bool) -> None:
        """tablesync: keep analytics tables in step with core, incrementally.

        Run `python run_job.py JOB --help` for a job's options and definitions.
        """
        from services.base import load_dotenv_file
        from services.reporting import LOG_FORMAT_VARIABLE, configure_logging

        ctx.ensure_object(dict)
        ctx.obj["verbose"] = ctx.obj.get("verbose", False) or verbose
        load_dotenv_file()
        log_format = os.environ.get(LOG_FORMAT_VARIABLE, "")
        configure_logging(verbose=ctx.obj["verbose"], log_format=log_format)

    return cli
