"""The click command every job gets: run, ``--status`` and the operator commands.

A job's handler builds it with ``job_command(JOB, config_module)``; the
command parses options, loads and selects definitions and hands off to the
function that does the work. Nothing here touches a database itself.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Mapping
from typing import Any

import click

from services.base import MAX_JOBS, ExportDefinition, TablesyncError
from services.cli.definitions import load_definitions, select_definitions
from services.cli.modes import Mode, choose_mode

Definitions = Mapping[str, ExportDefinition]


def _max_lag(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from services.base import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _every(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    seconds = _max_lag(ctx, param, value)
    if seconds is not None and seconds <= 0:
        raise click.BadParameter(f"{value!r} is no interval: give a duration above 0, e.g. 2s")
    return seconds


def _help_text(summary: str, config_module: str) -> str:
    lines = [
        summary,
        "",
        "Runs each named definition in order (or every one with --all). Exit 0 when all",
        "succeed, 1 when one failed while running, 2 on a usage or configuration error,",
        "75 when another run holds a definition's lock, 143 / 130 when stopped by SIGTERM /",
        "SIGINT (the batch in flight rolled back, the run recorded cancelled).",
        "",
        "Give at most one of --status, --dry-run, --verify, --reset, --from, --full-refresh and",
        "--follow; the options of one mode (--repair, --from-id, --max-lag, --jobs, --every)",
        "go only with it. --follow keeps the definitions in step until SIGTERM / SIGINT,",
        "which end it with exit 0.",
        "--json works with every mode but --follow (see --status --json for a follower).",
        "",
        "\b",
        "Definitions:",
    ]
    try:
        for name, definition in load_definitions(config_module).items():
            src, dst = definition.source, definition.destination
            lines.append(f"  {name:<12} {src.schema_}.{src.table} -> {dst.schema_}.{dst.table}")
    except TablesyncError as exc:
        lines.append(f"  (cannot load: {exc})")
    return "\n".join(lines)


# The options every job's command takes, in the order --help lists them.
OPTIONS = (
    click.argument("names", nargs=-1, metavar="DEFINITION..."),
    click.option("--all", "all_definitions", is_flag=True, help="Run every definition."),
    click.option("--json", "json_output", is_flag=True, help="Print results as JSON on stdout."),
    click.option(
        "--status",
        "status_view",
        is_flag=True,
        help="Show each definition's last run, position, pending rows and lag instead of"
        " running (default: every definition). Reads only; takes no lock.",
    ),
    click.option(
        "--max-lag",
        metavar="DURATION",
        callback=_max_lag,
        help="With --status: exit 1 and alert Slack when a definition trails core by more"
        " than DURATION (90s, 15m, 2h, 1d, 1h30m).",
    ),
    click.option(
        "--jobs",
        "-j",
        type=click.IntRange(1, MAX_JOBS),
        default=1,
        show_default=True,
        help="Run up to N definitions at once (each still holds its own lock).",
    ),
    click.option(
        "--skip-if-locked",
        is_flag=True,
        help="Exit 0, not 75, when another run holds a definition's lock (for schedulers"
        " that cannot map exit codes).",
    ),
    click.option(
        "--dry-run", is_flag=True, help="Check and show what a run would do; write nothing."
    ),
    click.option(
        "--verify", is_flag=True, help="Compare analytics with core; exit 1 on differences."
    ),
    click.option(
        "--keys",
        is_flag=True,
        help="With --verify: compare keys only, to find rows deleted in core at a fraction"
        " of a full verify's cost.",
    ),
    click.option(
        "--repair",
        is_flag=True,
        help="With --verify: re-sync the ranges that differ and delete extra rows (more than"
        " TABLESYNC_MAX_DELETE_FRACTION of the table only with --yes).",
    ),
    click.option("--reset", is_flag=True, help="Move the saved position back to the start."),
    click.option(
        "--from",
        "from_value",
        metavar="VALUE",
        help="Start the next run at this cursor value: back replays rows, forward skips rows"
        " (it says how many and asks).",
    ),
    click.option(
        "--from-id",
        "from_ids",
        metavar="ID",
        multiple=True,
        help="With --from: start at this tie-breaker id. Repeat it for an id_field of several"
        " columns, one value per column in order (--from-id 7 --from-id 42).",
    ),
    click.option("--full-refresh", is_flag=True, help="Rebuild the destination aside, then swap."),
    click.option(
        "--follow",
        is_flag=True,
        help="Keep the definitions in step until stopped: a cycle every --every on warm"
        " connections, each definition's lock held (cron runs of it exit 75).",
    ),
    click.option(
        "--every",
        metavar="DURATION",
        callback=_every,
        help="With --follow: the time between cycles (0.5s, 2s, 1m; default 5s).",
    ),
    click.option(
        "--yes",
        "-y",
        is_flag=True,
        help="Do not ask for confirmation; let a run or repair delete more than"
        " TABLESYNC_MAX_DELETE_FRACTION of a destination.",
    ),
    click.option("--verbose", "-v", is_flag=True, help="Debug logs and tracebacks on errors."),
)


def job_command(job: str, config_module: str, *, summary: str) -> click.Command:
    """The command line of ``job``, whose definitions are ``config_module``'s DEFINITIONS."""

    def command(ctx: click.Context, /, **given: Any) -> None:
        mode = choose_mode(ctx)  # a usage error is found before anything is loaded
        if given["verbose"] and ctx.obj is not None:
            ctx.obj["verbose"] = True
        _MODES.get(mode, _operation)(job, load_definitions(config_module), mode, given)

    for option in reversed(OPTIONS):
        command = option(command)
    return click.command(name=job, help=_help_text(summary, config_module))(
        click.pass_context(command)
    )


Given = dict[str, Any]  # the parsed options, by click parameter name


def _run(job: str, definitions: Definitions, mode: Mode, given: Given) -> None:
    from services.cli.run import run_and_print

    run_and_print(
        job,
        definitions,
        list(given["names"]),
        given["all_definitions"],
        json_output=given["json_output"],
        jobs=given["jobs"],
        yes=given["yes"],
        skip_if_locked=given["skip_if_locked"],
    )


def _follow(job: str, definitions: Definitions, mode: Mode, given: Given) -> None:
    from services.follow import DEFAULT_EVERY_S, FollowRequest, follow_definitions

    names, every = list(given["names"]), given["all_definitions"]
    chosen = select_definitions(job, definitions, names, all_definitions=every)
    every_s = given["every"] if given["every"] is not None else DEFAULT_EVERY_S
    request = FollowRequest(
        job, definitions, chosen, every_s=every_s, command=shlex.join(sys.argv), yes=given["yes"]
    )
    follow_definitions(request, environ=os.environ)


def _status(job: str, definitions: Definitions, mode: Mode, given: Given) -> None:
    from services.cli.status_view import show_status

    show_status(
        job,
        definitions,
        list(given["names"]),
        all_definitions=given["all_definitions"],
        json_output=given["json_output"],
        max_lag_s=given["max_lag"],
    )


def _operation(job: str, definitions: Definitions, mode: Mode, given: Given) -> None:
    from services.cli.operations import Operation, run_operation

    op = Operation(
        mode,
        keys=given["keys"],
        repair=given["repair"],
        from_value=given["from_value"],
        from_ids=given["from_ids"],
        yes=given["yes"],
        json_output=given["json_output"],
        command=shlex.join(sys.argv),
    )
    names, every = list(given["names"]), given["all_definitions"]
    chosen = select_definitions(job, definitions, names, all_definitions=every)
    run_operation(job, definitions, chosen, op)


_MODES: dict[Mode, Callable[[str, Definitions, Mode, Given], None]] = {
    Mode.RUN: _run,
    Mode.STATUS: _status,
    Mode.FOLLOW: _follow,
}
