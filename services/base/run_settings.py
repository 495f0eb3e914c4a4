"""Every run-time ``TABLESYNC_*`` variable, declared once and read once.

``RunSettings.from_env`` reads and checks all of them before anything is
written, listing every bad value (one problem per line, exit 2); the command
line does that once per invocation and hands the value down to the run, so
nothing in the data path reads the environment and a run started with a
mapping of its own (``run_definitions(environ=...)``) runs with exactly that
mapping. ``VARIABLES`` is the table that docs/configuration.md is checked
against (tests/test_run_settings.py).

The console's own variables (``TABLESYNC_API_TOKEN``, ``TABLESYNC_MAX_LAG``,
``TABLESYNC_ROOT_PATH``) belong to ``serve`` (services/console/settings.py); the
``TABLESYNC_TEST_*`` hooks to the crash tests (services/base/testhooks.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.base.db import BACKOFF_VARIABLE, RETRIES_VARIABLE, RetryPolicy
from services.base.errors import ConfigurationError
from services.base.settings import ORIGIN_VARIABLE, env_count, env_number, read_all, run_origin
from services.base.stopping import DEFAULT_STOP_TIMEOUT_S, STOP_TIMEOUT_VARIABLE
from services.base.timeouts import (
    LOCK_TIMEOUT_VARIABLE,
    STATEMENT_TIMEOUT_VARIABLE,
    TCP_USER_TIMEOUT_VARIABLE,
    Timeouts,
)

RUN_RETRIES_VARIABLE = "TABLESYNC_RUN_RETRIES"
WRITER_WAIT_VARIABLE = "TABLESYNC_WRITER_WAIT_S"
WORKERS_VARIABLE = "TABLESYNC_TRANSFORM_WORKERS"
# "off": first loads read in cursor order, batch by batch, as before backfills existed.
BACKFILL_VARIABLE = "TABLESYNC_BACKFILL"
CHUNK_PAGES_VARIABLE = "TABLESYNC_BACKFILL_CHUNK_PAGES"
JOIN_WAIT_VARIABLE = "TABLESYNC_BACKFILL_JOIN_WAIT_S"
FAILURES_DIR_VARIABLE = "TABLESYNC_FAILURES_DIR"
MAX_DELETE_FRACTION_VARIABLE = "TABLESYNC_MAX_DELETE_FRACTION"
PROGRESS_EVERY_VARIABLE = "TABLESYNC_PROGRESS_EVERY_S"
# A file a follower (--follow) touches after every round of cycles: a liveness probe
# checks its age (docs/operating.md, "Kubernetes"). Unset: none is written.
HEARTBEAT_FILE_VARIABLE = "TABLESYNC_HEARTBEAT_FILE"

DEFAULT_RUN_RETRIES = 3
WRITER_WAIT_S = 5.0
JOIN_WAIT_S = 15.0
FAILURES_DIR = Path("failures")
DEFAULT_MAX_DELETE_FRACTION = 0.1
DEFAULT_PROGRESS_EVERY_S = 10.0
_OFF = ("off", "0", "no", "false")


@dataclass(frozen=True)
class Variable:
    """One run-time variable as the configuration page lists it."""

    name: str
    default: str
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    Variable(STATEMENT_TIMEOUT_VARIABLE, "900", "server-side statement_timeout, seconds; 0 off"),
    Variable(LOCK_TIMEOUT_VARIABLE, "60", "server-side lock_timeout, seconds; 0 off"),
    Variable(TCP_USER_TIMEOUT_VARIABLE, "60", "unacknowledged data ends a connection, seconds"),
    Variable(RETRIES_VARIABLE, "2", "retries of a connection that fails transiently"),
    Variable(BACKOFF_VARIABLE, "0.5", "first wait before a retry or a resume, seconds"),
    Variable(RUN_RETRIES_VARIABLE, "3", "resumes of a run after a lost connection"),
    Variable(STOP_TIMEOUT_VARIABLE, "10", "seconds a run has to stop after SIGTERM / SIGINT"),
    Variable(WRITER_WAIT_VARIABLE, "5", "seconds a sequence watermark waits for open writers"),
    Variable(WORKERS_VARIABLE, "cores + 1, at most 8", "transform worker processes; 0 none"),
    Variable(BACKFILL_VARIABLE, "on", "off: first loads read in cursor order, not in chunks"),
    Variable(CHUNK_PAGES_VARIABLE, "32 MiB of heap", "heap blocks per backfill chunk"),
    Variable(JOIN_WAIT_VARIABLE, "15", "seconds a runner waits for a backfill being planned"),
    Variable(FAILURES_DIR_VARIABLE, "./failures", "where the row at fault is saved as JSON"),
    Variable(MAX_DELETE_FRACTION_VARIABLE, "0.1", "most of a destination one go may delete"),
    Variable(ORIGIN_VARIABLE, "cli", "label of what started a run, in its record"),
    Variable(PROGRESS_EVERY_VARIABLE, "10", "seconds between progress log lines"),
    Variable(HEARTBEAT_FILE_VARIABLE, "none", "file a follower touches after each round"),
)


def stop_timeout_s(environ: Mapping[str, str]) -> float:
    """TABLESYNC_STOP_TIMEOUT_S, a number of seconds > 0."""
    timeout = env_number(environ, STOP_TIMEOUT_VARIABLE, DEFAULT_STOP_TIMEOUT_S, minimum=0)
    if timeout <= 0:
        raise ConfigurationError(f"{STOP_TIMEOUT_VARIABLE} must be a number of seconds > 0")
    return timeout


def writer_wait_s(environ: Mapping[str, str]) -> float:
    """TABLESYNC_WRITER_WAIT_S, a number of seconds >= 0."""
    try:
        return env_number(environ, WRITER_WAIT_VARIABLE, WRITER_WAIT_S, minimum=0)
    except ConfigurationError:
        raw = environ[WRITER_WAIT_VARIABLE]
        message = f"{WRITER_WAIT_VARIABLE}={raw!r} is not a number of seconds >= 0"
        raise ConfigurationError(message) from None


def _optional_count(environ: Mapping[str, str], name: str) -> int | None:
    """A whole number >= 0, or None when unset (the default is worked out where it is used)."""
    return env_count(environ, name, 0) if environ.get(name, "") else None


def backfill_on(environ: Mapping[str, str]) -> bool:
    """TABLESYNC_BACKFILL: anything but off / 0 / no / false leaves backfills on."""
    return environ.get(BACKFILL_VARIABLE, "").strip().lower() not in _OFF


def failures_dir(environ: Mapping[str, str]) -> Path:
    """Where failure files go: TABLESYNC_FAILURES_DIR, else ./failures."""
    return Path(environ.get(FAILURES_DIR_VARIABLE) or FAILURES_DIR)


def max_delete_fraction(environ: Mapping[str, str]) -> float:
    """TABLESYNC_MAX_DELETE_FRACTION, a number from 0 to 1."""
    value = env_number(
        environ, MAX_DELETE_FRACTION_VARIABLE, DEFAULT_MAX_DELETE_FRACTION, minimum=0
    )
    if value > 1:
        raise ConfigurationError(
            f"{MAX_DELETE_FRACTION_VARIABLE}={value:g} must be a fraction from 0 to 1"
            " (0.1 = at most a tenth of a destination in one go)"
        )
    return value


def progress_every_s(environ: Mapping[str, str]) -> float:
    """TABLESYNC_PROGRESS_EVERY_S; a value that is not a number >= 0 means the default
    (progress lines are not worth refusing a run for)."""
    raw = environ.get(PROGRESS_EVERY_VARIABLE, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_PROGRESS_EVERY_S
    except ValueError:
        value = DEFAULT_PROGRESS_EVERY_S
    return value if value >= 0 else DEFAULT_PROGRESS_EVERY_S


@dataclass(frozen=True)
class RunSettings:
    """The run-time variables, checked; the defaults are what an empty environment gives."""

    timeouts: Timeouts = field(default_factory=Timeouts)
    connect: RetryPolicy = field(default_factory=RetryPolicy)
    run_retries: int = DEFAULT_RUN_RETRIES
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S
    writer_wait_s: float = WRITER_WAIT_S
    transform_workers: int | None = None  # None: one more than the cores (transform_workers)
    backfill: bool = True
    backfill_chunk_pages: int | None = None  # None: sized by bytes, or by rows with a transform
    backfill_join_wait_s: float = JOIN_WAIT_S
    failures_dir: Path = FAILURES_DIR
    max_delete_fraction: float = DEFAULT_MAX_DELETE_FRACTION
    origin: str = "cli"
    progress_every_s: float = DEFAULT_PROGRESS_EVERY_S
    heartbeat_file: Path | None = None  # --follow's liveness file

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunSettings:
        """Read every variable of ``environ``; every bad value is one line of the
        ConfigurationError raised (exit 2)."""
        return cls(**read_all(environ, _READERS))

    def writer_wait_for(self, configured: float | None) -> float:
        """A definition's ``writer_wait_s``, else TABLESYNC_WRITER_WAIT_S."""
        return self.writer_wait_s if configured is None else configured


_READERS: dict[str, Callable[[Mapping[str, str]], Any]] = {
    "timeouts": Timeouts.from_env,
    "connect": RetryPolicy.from_env,
    "run_retries": lambda env: env_count(env, RUN_RETRIES_VARIABLE, DEFAULT_RUN_RETRIES),
    "stop_timeout_s": stop_timeout_s,
    "writer_wait_s": writer_wait_s,
    "transform_workers": lambda env: _optional_count(env, WORKERS_VARIABLE),
    "backfill": backfill_on,
    "backfill_chunk_pages": lambda env: _optional_count(env, CHUNK_PAGES_VARIABLE),
    "backfill_join_wait_s": lambda env: env_number(env, JOIN_WAIT_VARIABLE, JOIN_WAIT_S, minimum=0),
    "failures_dir": failures_dir,
    "max_delete_fraction": max_delete_fraction,
    "origin": run_origin,
    "progress_every_s": progress_every_s,
    "heartbeat_file": lambda env: (
        Path(env[HEARTBEAT_FILE_VARIABLE]) if env.get(HEARTBEAT_FILE_VARIABLE) else None
    ),
}
