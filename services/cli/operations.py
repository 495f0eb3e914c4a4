"""Operator commands of a job: --dry-run, --verify, --reset/--from, --full-refresh.

Thin: each asks for confirmation where it must and hands off to one service
function; the services hold every query. With ``--json`` each definition's
outcome is one JSON object on a line of stdout, and whatever is said to a
person (a plan, a question) goes to stderr.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import click

from services.base import (
    Databases,
    ExportDefinition,
    JobFailedError,
    RunSettings,
    TablesyncError,
)
from services.cli.modes import Mode
from services.reporting import SlackSettings, json_bytes


@dataclass(frozen=True)
class Operation:
    """The operator command given on the command line, and its options."""

    mode: Mode
    keys: bool = False
    repair: bool = False
    from_value: str | None = None
    from_ids: tuple[str, ...] = ()
    yes: bool = False
    json_output: bool = False
    command: str = ""
    # The run-time variables and Slack, read once when the operation starts (run_operation).
    settings: RunSettings = field(default_factory=RunSettings)
    slack: SlackSettings | None = None

    def say(self, lines: list[str]) -> None:
        """Tell a person ``lines``: on stdout, or on stderr when stdout carries JSON."""
        click.echo("\n".join(lines), err=self.json_output)

    def done(self, line: str, as_json: dict[str, Any]) -> None:
        """Print one definition's outcome: ``line``, or ``as_json`` with --json."""
        # json_bytes: redacted, every time RFC 3339 UTC like every JSON tablesync writes.
        click.echo(json_bytes(as_json).decode() if self.json_output else line)


Action = Callable[[Databases, str, str, ExportDefinition, Operation], None]


def run_operation(
    job: str, definitions: Mapping[str, ExportDefinition], names: list[str], op: Operation
) -> None:
    """Apply ``op`` to each named definition in order; collect failures like a sync does."""
    from services.cli.invocation import Invocation

    action = _ACTIONS[op.mode]
    errors: list[TablesyncError] = []
    read = Invocation.read()
    op = replace(op, settings=read.settings, slack=read.slack)
    with read.databases() as dbs:
        for name in names:
            try:
                action(dbs, job, name, definitions[name], op)
            except TablesyncError as exc:
                errors.append(exc)
    if errors:
        raise JobFailedError(errors)


def _dry_run(
    dbs: Databases, job: str, name: str, definition: ExportDefinition, op: Operation
) -> None:
    from services.operations import describe, dry_run

    found = dry_run(dbs, job, name, definition, op.settings)
    op.done("\n".join(describe(found)), found.to_dict())


def _verify(
    dbs: Databases, job: str, name: str, definition: ExportDefinition, op: Operation
) -> None:
    from services.operations import Repair, verify, verify_keys

    fraction = op.settings.max_delete_fraction
    repair = (
        Repair(keys=op.keys, yes=op.yes, command=op.command, fraction=fraction, slack=op.slack)
        if op.repair
        else None
    )
    check = verify_keys if op.keys else verify
    report = check(dbs, job, name, definition, repair=repair)
    op.done("\n".join(report.lines()), report.to_dict())
    report.raise_if_differs()


def _confirm(lines: list[str], op: Operation) -> None:
    op.say(lines)
    if not op.yes:
        click.confirm("Go ahead?", abort=True, err=True)


def _reset(
    dbs: Databases, job: str, name: str, definition: ExportDefinition, op: Operation
) -> None:
    from services.operations import apply_reset, plan_reset

    planned = plan_reset(dbs, job, name, definition, from_value=op.from_value, from_ids=op.from_ids)
    _confirm(planned.lines(), op)
    done = apply_reset(dbs, planned, command=op.command)
    op.done(done.line(), done.to_dict())


def _full_refresh(
    dbs: Databases, job: str, name: str, definition: ExportDefinition, op: Operation
) -> None:
    from services.operations import full_refresh, refresh_name, refresh_notice
    from services.reporting import reporting
    from services.store import lazy_count

    _confirm(refresh_notice(dbs, job, name, definition), op)
    # The build has no position yet: the count is of the whole source table (a backfill's
    # chunks give its progress instead once the first is done).
    total = lazy_count(dbs, job, refresh_name(name), definition)
    tty, every_s = False if op.json_output else None, op.settings.progress_every_s
    with reporting(name, total, tty=tty, every_s=every_s) as progress:
        done = full_refresh(
            dbs,
            job,
            name,
            definition,
            settings=op.settings,
            command=op.command,
            progress=progress,
        )
    op.done(done.line(), done.to_dict())


_ACTIONS: dict[Mode, Action] = {
    Mode.DRY_RUN: _dry_run,
    Mode.VERIFY: _verify,
    Mode.RESET: _reset,
    Mode.FROM: _reset,
    Mode.FULL_REFRESH: _full_refresh,
}
