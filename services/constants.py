"""Statuses and defaults, with their units in their names."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Status of one run record in ``tablesync.runs``."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"

    def __str__(self) -> str:
        return self.value


DEFAULT_BATCH_SIZE = 10_000
DEFAULT_SOURCE_SCHEMA = "public"
DEFAULT_DESTINATION_SCHEMA = "analytics_raw"
RUNNER_SCHEMA = "tablesync"
CONNECT_TIMEOUT_S = 10
POOL_OPEN_TIMEOUT_S = 30.0
APPLICATION_NAME = "tablesync"
