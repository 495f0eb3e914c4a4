"""Operator commands of a job: --dry-run, --verify, --reset/--from, --full-refresh.

Thin: each parses nothing, asks for confirmation where it must, and hands off
to one service function; the services hold every query.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import click

from services.base.db import Databases
from services.base.definition import ExportDefinition
from services.base.errors import JobFailedError, TablesyncError
from services.base.settings import DatabaseUrls


@dataclass(frozen=True)
class Operation:
    """The operator flags given on the command line."""

    dry_run: bool = False
    verify: bool = False
    repair: bool = False
    reset: bool = False
    from_value: str | None = None
    from_id: str | None = None
    full_refresh: bool = False
    yes: bool = False
    json_output: bool = False
    command: str = ""

    @property
    def requested(self) -> bool:
        modes = [self.dry_run, self.verify, self.reset, self.from_value is not None]
        return any([*modes, self.full_refresh, self.repair, self.from_id is not None])

    def check(self) -> None:
        """Refuse combinations that mean nothing, before anything is read or written."""
        modes = [self.dry_run, self.verify, self.reset, self.from_value is not None]
        modes.append(self.full_refresh)
        if sum(modes) > 1:
            raise click.UsageError(
                "give only one of --dry-run, --verify, --reset, --from, --full-refresh"
            )
        if self.repair and not self.verify:
            raise click.UsageError("--repair goes with --verify")
        if self.from_id is not None and self.from_value is None:
            raise click.UsageError("--from-id goes with --from VALUE")


Action = Callable[[Databases, str, str, ExportDefinition, "Operation"], None]


def run_operation(
    job: str, definitions: Mapping[str, ExportDefinition], names: list[str], op: Operation
) -> None:
    """Apply ``op`` to each named definition in order; collect failures like a sync does."""
    action = _action(op)
    errors: list[TablesyncError] = []
    with Databases(DatabaseUrls.from_env()) as dbs:
        for name in names:
            try:
                action(dbs, job, name, definitions[name], op)
            except TablesyncError as exc:
                errors.append(exc)
    if errors:
        raise JobFailedError(errors)


def _action(op: Operation) -> Action:
    if op.dry_run:
        return _dry_run
    if op.verify:
        return _verify
    if op.full_refresh:
        return _full_refresh
    return _reset


def _dry_run(
    dbs: Databases, job: str, name: str, definition: ExportDefinition, op: Operation
) -> None:
    from services.operations.dry_run import describe, dry_run

    found = dry_run(dbs, job, name, definition)
    if op.json_output:
        click.echo(json.dumps(found.to_dict()))
    else:
        click.echo("\n".join(describe(found)))


def _verify(
    dbs: Databases, job: str, name: str, definition: ExportDefinition, op: Operation
) -> None:
    from services.operations.verify import verify

    report = verify(dbs, job, name, definition, repair=op.repair)
    click.echo(json.dumps(report.to_dict()) if op.json_output else "\n".join(report.lines()))
    report.raise_if_differs()


def _confirm(lines: list[str], op: Operation) -> None:
    click.echo("\n".join(lines))
    if not op.yes:
        click.confirm("Go ahead?", abort=True, err=True)


def _reset(
    dbs: Databases, job: str, name: str, definition: ExportDefinition, op: Operation
) -> None:
    from services.operations.replay import apply_reset, plan_reset

    planned = plan_reset(dbs, job, name, definition, from_value=op.from_value, from_id=op.from_id)
    _confirm(planned.lines(), op)
    click.echo(apply_reset(dbs, planned, command=op.command))


def _full_refresh(
    dbs: Databases, job: str, name: str, definition: ExportDefinition, op: Operation
) -> None:
    from services.operations.refresh import full_refresh, refresh_name, refresh_notice
    from services.reporting.progress import reporting
    from services.store.estimate import pending_estimate

    _confirm(refresh_notice(dbs, job, name, definition), op)
    # The build has no position yet: the estimate is the whole source table.
    total = pending_estimate(dbs, job, refresh_name(name), definition)
    with reporting(name, total, tty=False if op.json_output else None) as progress:
        done = full_refresh(dbs, job, name, definition, command=op.command, progress=progress)
    click.echo(done)
