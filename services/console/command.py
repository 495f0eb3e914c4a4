"""``python run_job.py serve``: the console's command (its options and help)."""

from __future__ import annotations

import click

from services.cli import available_jobs, end_of_startup, job_module


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
    from services.console.serve import serve  # the web stack: only when serving

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
