"""Logging for tablesync: stderr, human lines by default, JSON lines for machines.

Every record, whoever logs it (tablesync, psycopg, slack_sdk), is redacted by the
formatter, so a secret in a message, its arguments or a traceback never reaches stderr.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

import orjson

from services.base import ConfigurationError, redact
from services.reporting.report import redact_tree

LOG_FORMAT_VARIABLE = "LOG_FORMAT"
HUMAN_FORMATS = frozenset({"", "text", "human", "plain"})
JSON_FORMAT = "json"
HUMAN_LINE = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))
) | {"message", "asctime", "taskName"}


class RedactingFormatter(logging.Formatter):
    """The standard human format, with the whole output (traceback included) redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: ts, level, logger, message, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in entry:
                entry[key] = redact_tree(value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        # default=: an extra of an unknown type becomes its (redacted) text, never an error.
        return orjson.dumps(entry, default=lambda value: redact(str(value))).decode()


class _TablesyncHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler we installed, so a second configure_logging replaces it."""


def resolve_log_format(raw: str) -> str:
    """``"json"`` or ``"text"`` from LOG_FORMAT's value (empty: text); else ConfigurationError."""
    value = raw.strip().lower()
    if value == JSON_FORMAT:
        return JSON_FORMAT
    if value in HUMAN_FORMATS:
        return "text"
    raise ConfigurationError(
        f"{LOG_FORMAT_VARIABLE}={raw!r} is not a log format: use 'json' for one JSON object "
        "per line, or leave it unset for human-readable lines"
    )


def configure_logging(*, verbose: bool, log_format: str = "") -> None:
    """Send every log record to stderr at INFO (DEBUG when ``verbose``), redacted.

    ``log_format`` is LOG_FORMAT's value, as the command line read it: ``"json"``, or
    ``"text"`` / empty for human-readable lines.
    Calling it again replaces the previous setup instead of doubling every line. Raises
    ``ConfigurationError`` for an unknown format.
    """
    fmt = resolve_log_format(log_format)
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, _TablesyncHandler)]:
        root.removeHandler(existing)
    # sys.stderr looked up now, not at import, so a redirected stderr (tests, CLI runners) works.
    handler = _TablesyncHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == JSON_FORMAT else RedactingFormatter(HUMAN_LINE))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
