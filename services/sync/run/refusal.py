"""Contract rule 18: a run its pre-flight check refuses is still a run.

A definition the databases no longer match (a dropped column, a missing unique index,
drift) is refused before anything is written (exit 2). Left at that, the refusal
would be invisible: no run record, so the console, ``--status`` and the metrics would
keep showing the last success. So the refusal leaves a ``failed`` run record with its
message and the saved position unchanged, and the refused run's result carries it on
to Slack and the summary line, like any failed run's.

No record is left when analytics cannot take one: its runner tables are missing or
migrations are pending (that problem is the message then, for every definition alike).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg

from services.base import (
    EXIT_CONFIGURATION,
    PreflightError,
    RunResult,
    RunStatus,
    first_line,
    load_position,
    redact,
)
from services.store import check_runner_tables, record_refusal

log = logging.getLogger(__name__)
Conn = psycopg.Connection[Any]


def record_refused(
    analytics: Conn, result: RunResult, error: PreflightError, *, command: str, origin: str
) -> None:
    """Leave the refused run's record (when analytics can take one) and put the refusal on
    ``result`` and ``error.result``; a failure to record is logged, never raised over
    ``error``."""
    try:
        if check_runner_tables(analytics):
            return  # not migrated: there is no run-record table to write to, or not yet
        saved = load_position(analytics, result.job, result.definition)
        with analytics.transaction():
            who = result.identity(command, origin)
            result.run_id = record_refusal(analytics, who, saved, error=str(error))
    except psycopg.Error as exc:
        log.warning(
            "%s: could not record the refused run: %s", result.definition, redact(first_line(exc))
        )
        saved = None
    result.position_before = result.position_after = None if saved is None else saved.to_dict()
    result.status, result.finished_at = RunStatus.FAILED, time.time()
    result.exit_code, result.error = EXIT_CONFIGURATION, str(error)
    error.result = result
