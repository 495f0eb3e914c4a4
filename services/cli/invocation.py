"""What one command reads from the environment, read and checked once before it writes.

The command line is where tablesync reads the process's environment (``serve``
reads its own at start, services/console/serve.py): a command builds one
``Invocation`` and hands its values down, so nothing below it reads
``os.environ`` (tests/test_run_settings.py) and a bad variable is exit 2 before
anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.base import Databases, DatabaseUrls, RunSettings

if TYPE_CHECKING:  # notify is imported when a command runs, not for --help
    from services.reporting import SlackSettings


@dataclass(frozen=True)
class Invocation:
    """The databases, the run-time variables and Slack of one command, checked."""

    urls: DatabaseUrls
    settings: RunSettings
    slack: SlackSettings | None

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Invocation:
        """Read ``environ`` (default: the process's); a missing or bad variable raises
        ConfigurationError (exit 2)."""
        from services.reporting import SlackSettings

        environ = os.environ if environ is None else environ
        urls = DatabaseUrls.from_env(environ)
        return cls(urls, RunSettings.from_env(environ), SlackSettings.from_env(environ))

    def databases(self, *, max_size: int = 4) -> Databases:
        """The pools, connecting and bounded as the variables say."""
        settings = self.settings
        return Databases(
            self.urls, max_size=max_size, retry=settings.connect, timeouts=settings.timeouts
        )
