"""What the operator sees of runs: the status view, summary lines and JSON,
Slack notifications, the progress bar and log formatting.

May import ``services.base`` and ``services.store``; never the data path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.reporting.failure_advice import Advice, advise
    from services.reporting.logs import LOG_FORMAT_VARIABLE, configure_logging
    from services.reporting.notify import DEFAULT_TIMEOUT_S, SlackSettings, notify_alert, notify_run
    from services.reporting.progress import RECOUNT_S, reporting
    from services.reporting.progress_figures import ChunkShare, Figures, figures
    from services.reporting.report import (
        format_position,
        json_bytes,
        results_json,
        resume_command,
        summary_line,
    )
    from services.reporting.status import DefinitionStatus, check_freshness, status_report
    from services.reporting.status_format import status_dict, status_json, status_table
    from services.reporting.verdicts import Verdicts

__all__ = [
    "Advice",
    "ChunkShare",
    "DEFAULT_TIMEOUT_S",
    "DefinitionStatus",
    "Figures",
    "LOG_FORMAT_VARIABLE",
    "RECOUNT_S",
    "SlackSettings",
    "Verdicts",
    "advise",
    "check_freshness",
    "configure_logging",
    "figures",
    "format_position",
    "json_bytes",
    "notify_alert",
    "notify_run",
    "reporting",
    "results_json",
    "resume_command",
    "status_dict",
    "status_json",
    "status_report",
    "status_table",
    "summary_line",
]
_HOMES = {
    "Advice": "services.reporting.failure_advice",
    "ChunkShare": "services.reporting.progress_figures",
    "DEFAULT_TIMEOUT_S": "services.reporting.notify",
    "DefinitionStatus": "services.reporting.status",
    "Figures": "services.reporting.progress_figures",
    "LOG_FORMAT_VARIABLE": "services.reporting.logs",
    "RECOUNT_S": "services.reporting.progress",
    "SlackSettings": "services.reporting.notify",
    "Verdicts": "services.reporting.verdicts",
    "advise": "services.reporting.failure_advice",
    "check_freshness": "services.reporting.status",
    "configure_logging": "services.reporting.logs",
    "figures": "services.reporting.progress_figures",
    "format_position": "services.reporting.report",
    "json_bytes": "services.reporting.report",
    "notify_alert": "services.reporting.notify",
    "notify_run": "services.reporting.notify",
    "reporting": "services.reporting.progress",
    "results_json": "services.reporting.report",
    "resume_command": "services.reporting.report",
    "status_dict": "services.reporting.status_format",
    "status_json": "services.reporting.status_format",
    "status_report": "services.reporting.status",
    "status_table": "services.reporting.status_format",
    "summary_line": "services.reporting.report",
}
__getattr__ = lazy_exports(__name__, _HOMES)
