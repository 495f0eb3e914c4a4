"""What a job's command line is asked to do: one mode, chosen once, before anything runs.

A command runs definitions (the default) or does exactly one of ``--status``,
``--dry-run``, ``--verify``, ``--reset``, ``--from``, ``--full-refresh`` and ``--follow``.
Giving two of them, or an option that belongs to another mode (``--repair``
outside ``--verify``, say), is a usage error (exit 2) whose one line names
the options at fault: nothing is read or written first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import click
from click.core import ParameterSource


class Mode(StrEnum):
    """What one command line does; the value is the option that asks for it."""

    RUN = "run"
    STATUS = "--status"
    DRY_RUN = "--dry-run"
    VERIFY = "--verify"
    RESET = "--reset"
    FROM = "--from"
    FULL_REFRESH = "--full-refresh"
    FOLLOW = "--follow"

    @property
    def shown(self) -> str:
        """The mode as a message names it."""
        return "a run" if self is Mode.RUN else self.value


# click parameter name -> the mode its option asks for.
MODE_OPTIONS: dict[str, Mode] = {
    "status_view": Mode.STATUS,
    "dry_run": Mode.DRY_RUN,
    "verify": Mode.VERIFY,
    "reset": Mode.RESET,
    "from_value": Mode.FROM,
    "full_refresh": Mode.FULL_REFRESH,
    "follow": Mode.FOLLOW,
}


@dataclass(frozen=True)
class ModeOnly:
    """An option that means something only in some modes, and what to say elsewhere."""

    modes: frozenset[Mode]
    refusal: str  # {mode}: the mode it was given in


# click parameter name -> where its option belongs.
MODE_ONLY_OPTIONS: dict[str, ModeOnly] = {
    "repair": ModeOnly(frozenset({Mode.VERIFY}), "--repair goes with --verify"),
    "keys": ModeOnly(frozenset({Mode.VERIFY}), "--keys goes with --verify"),
    "from_ids": ModeOnly(frozenset({Mode.FROM}), "--from-id goes with --from VALUE"),
    "max_lag": ModeOnly(
        frozenset({Mode.STATUS}), "--max-lag is a check of the status view: add --status"
    ),
    "jobs": ModeOnly(
        frozenset({Mode.RUN}),
        "--jobs runs definitions side by side: it goes with a run, not with {mode}",
    ),
    "skip_if_locked": ModeOnly(
        frozenset({Mode.RUN}), "--skip-if-locked goes with a run, not with {mode}"
    ),
    "json_output": ModeOnly(
        frozenset(mode for mode in Mode if mode is not Mode.FOLLOW),
        "--json prints a run's result, and {mode} runs until stopped: a follower's live"
        " figures are in --status --json",
    ),
    "every": ModeOnly(
        frozenset({Mode.FOLLOW}), "--every is how often --follow runs a cycle: add --follow"
    ),
    "yes": ModeOnly(
        frozenset({Mode.RUN, Mode.FOLLOW, Mode.RESET, Mode.FROM, Mode.FULL_REFRESH, Mode.VERIFY}),
        "--yes answers a confirmation, and {mode} asks none: it goes with a run (soft"
        " deletes past TABLESYNC_MAX_DELETE_FRACTION), --reset, --from, --full-refresh or"
        " --verify --repair",
    ),
}


def given(ctx: click.Context, name: str) -> bool:
    """Whether parameter ``name`` was given, not left at its default."""
    source = ctx.get_parameter_source(name)
    return source not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)


def _listed(options: Sequence[str]) -> str:
    return options[0] if len(options) == 1 else f"{', '.join(options[:-1])} and {options[-1]}"


def choose_mode(ctx: click.Context) -> Mode:
    """The one mode ``ctx``'s options ask for; raises click.UsageError (exit 2) naming the
    options when two modes are asked for, or an option is given outside its mode."""
    asked = [mode for name, mode in MODE_OPTIONS.items() if given(ctx, name)]
    if len(asked) > 1:
        raise click.UsageError(
            f"{_listed(asked)} cannot be combined: a command does one of"
            f" {', '.join(MODE_OPTIONS.values())}, or runs the definitions"
        )
    mode = asked[0] if asked else Mode.RUN
    for name, only in MODE_ONLY_OPTIONS.items():
        if given(ctx, name) and mode not in only.modes:
            raise click.UsageError(only.refusal.format(mode=mode.shown))
    return mode
