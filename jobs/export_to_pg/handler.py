"""export-to-pg: copy what changed in core since the last run into analytics."""

from __future__ import annotations

from typing import Any

from services.base.definition import ExportDefinition
from services.base.results import RunResult
from services.cli.command import job_command
from services.cli.definitions import load_definitions as _load
from services.cli.run import run_definitions

JOB = "export-to-pg"
CONFIG = "jobs.export_to_pg.config"

command = job_command(
    JOB, CONFIG, summary="Copy what changed in core since the last run into analytics."
)


def load_definitions() -> dict[str, ExportDefinition]:
    """This job's DEFINITIONS (jobs/export_to_pg/config.py)."""
    return _load(CONFIG)


def handle(names: list[str], **options: Any) -> list[RunResult]:
    """Run the named definitions of this job; see ``services.cli.run.run_definitions``."""
    return run_definitions(JOB, load_definitions(), names, **options)
