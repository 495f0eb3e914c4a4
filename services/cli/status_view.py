"""``--status``: every definition's last run, position, pending rows and lag."""

from __future__ import annotations

from collections.abc import Mapping

import click

from services.base import ExportDefinition
from services.cli.definitions import select_definitions


def show_status(
    job: str,
    definitions: Mapping[str, ExportDefinition],
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
    from services.cli.invocation import Invocation
    from services.reporting import status_json, status_report, status_table

    read = Invocation.read(environ)
    every = all_definitions or not names
    selected = select_definitions(job, definitions, names, all_definitions=every)
    slack = read.slack if max_lag_s is not None else None
    with read.databases() as dbs:
        chosen = {name: definitions[name] for name in selected}
        report = status_report(job, chosen, dbs, max_lag_s=max_lag_s, slack=slack)
    click.echo(status_json(report).decode() if json_output else status_table(report))
    report.raise_if_stale()
