"""The console's settings: where it listens, its token, the default freshness limit."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.base import ConfigurationError, RunSettings, parse_duration

TOKEN_VARIABLE = "TABLESYNC_API_TOKEN"
MAX_LAG_VARIABLE = "TABLESYNC_MAX_LAG"
ROOT_PATH_VARIABLE = "TABLESYNC_ROOT_PATH"
DEFAULT_MAX_LAG_S = 3_600.0
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
# Shorter than this, a token is guessable; the console refuses to start with it.
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class ConsoleSettings:
    """What ``serve`` was asked for, checked."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = field(default=None, repr=False)
    max_lag_s: float = DEFAULT_MAX_LAG_S
    # The command that starts one run: this Python and the script the console runs as,
    # so a run started over HTTP is the same program as the console.
    runner: tuple[str, ...] = field(default_factory=lambda: this_program())
    # The path prefix a reverse proxy serves the console under ("" at its root).
    root_path: str = ""
    # The run-time variables, read at start: how long its runs get to stop, where their
    # failed rows are saved (the pages show them).
    run: RunSettings = field(default_factory=RunSettings)

    @property
    def read_only(self) -> bool:
        return self.token is None


def this_program() -> tuple[str, ...]:
    """This Python and the script it runs (run_job.py): how to start one more run."""
    return (sys.executable, str(Path(sys.argv[0]).resolve()))


def is_loopback(host: str) -> bool:
    """Whether ``host`` only ever accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def console_settings(host: str, port: int, *, environ: Mapping[str, str]) -> ConsoleSettings:
    """The settings for ``serve --host --port`` from ``environ``; ConfigurationError (exit 2)
    when unsafe or a variable is wrong, every problem one line."""
    token = environ.get(TOKEN_VARIABLE, "").strip() or None
    problems = []
    try:
        run = RunSettings.from_env(environ)
    except ConfigurationError as exc:
        problems.extend(exc.problems)
        run = RunSettings()
    if token is None and not is_loopback(host):
        problems.append(
            f"--host {host} accepts connections from other machines: set {TOKEN_VARIABLE}"
            " (a long random secret) first, or keep the default 127.0.0.1"
        )
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        problems.append(f"{TOKEN_VARIABLE} is too short: use {MIN_TOKEN_LENGTH} characters or more")
    try:
        max_lag_s = parse_duration(environ.get(MAX_LAG_VARIABLE) or "1h")
    except ValueError as exc:
        problems.append(f"{MAX_LAG_VARIABLE}: {exc}")
        max_lag_s = DEFAULT_MAX_LAG_S
    if problems:
        raise ConfigurationError("; ".join(problems), problems=problems)
    root_path = environ.get(ROOT_PATH_VARIABLE, "").rstrip("/")
    return ConsoleSettings(
        host=host, port=port, token=token, max_lag_s=max_lag_s, root_path=root_path, run=run
    )
