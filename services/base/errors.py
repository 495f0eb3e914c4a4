"""The one exception tree of tablesync, grouped by what the runner must do.

Only ``run_job.py`` turns these into exit codes and ``error:`` lines; every
other module raises them.
"""

from __future__ import annotations

from typing import Any

from services.base.results import RunResult

EXIT_RUN_FAILED = 1
EXIT_CONFIGURATION = 2
EXIT_LOCKED = 75
# 128 + the signal's number, as a shell reports a process a signal ended.
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def first_line(error: BaseException) -> str:
    """The first non-empty line of an error's text, or its type's name when it has none."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


class TablesyncError(Exception):
    """Root of every error tablesync raises on purpose."""

    exit_code = EXIT_RUN_FAILED
    # What the definition run that failed had done, when one had started.
    result: RunResult | None = None


class ConfigurationError(TablesyncError):
    """Something is off in the setup; found before anything was written (exit 2)."""

    exit_code = EXIT_CONFIGURATION

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message)


class UnknownJobError(ConfigurationError):
    """The job named on the command line has no ``jobs/<job>/handler.py``."""


class UnknownDefinitionError(ConfigurationError):
    """The definition named on the command line is not in the job's config."""


class InvalidDefinitionError(ConfigurationError):
    """An ExportDefinition failed validation."""


class MissingVariableError(ConfigurationError):
    """A required environment variable is not set."""


class PreflightError(ConfigurationError):
    """The databases do not match the definition (tables, columns, indexes, migrations)."""


class RunError(TablesyncError):
    """A definition failed while running; its position stays at the last good batch (exit 1)."""

    exit_code = EXIT_RUN_FAILED


class RowError(RunError):
    """One source row could not be exported; names its cursor value and id."""

    def __init__(
        self,
        message: str,
        *,
        cursor_value: Any = None,
        row_id: Any = None,
        row: dict[str, Any] | None = None,
    ) -> None:
        self.cursor_value = cursor_value
        self.row_id = row_id
        self.row = row
        self.failure_file: str | None = None
        super().__init__(message)


class MassDeleteError(RunError):
    """A repair or run would delete more than TABLESYNC_MAX_DELETE_FRACTION of a destination;
    it stopped before deleting them (exit 1; ``--yes`` lets it through)."""

    def __init__(self, message: str, *, deleting: int, rows: int) -> None:
        self.deleting, self.rows = deleting, rows
        super().__init__(message)


class TransientError(RunError):
    """A retriable failure: a server went away or refused a connection for now."""


class JobFailedError(TablesyncError):
    """One or more definitions of a job failed; each has its own ``error:`` line.

    ``results`` holds what every definition that ran did, failed or not (for ``--json``).
    """

    def __init__(
        self, errors: list[TablesyncError], *, results: list[RunResult] | None = None
    ) -> None:
        self.errors = errors
        self.results = results or []
        codes = [e.exit_code for e in errors]
        # A stop outranks everything: the scheduler asked for it and must hear it. A run
        # failure outranks a lock held elsewhere: it needs a person.
        self.exit_code = max(
            codes,
            key=lambda c: (
                c in (EXIT_SIGINT, EXIT_SIGTERM),
                c == EXIT_CONFIGURATION,
                c == EXIT_RUN_FAILED,
            ),
        )
        super().__init__("; ".join(str(e) for e in errors))


class LockHeldError(TablesyncError):
    """Another run of the same definition holds its lock; nothing was done (exit 75)."""

    exit_code = EXIT_LOCKED


class StoppedError(TablesyncError):
    """A signal asked the run to stop; the batch in flight rolled back (exit 130 / 143)."""

    def __init__(self, message: str, *, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(message)
