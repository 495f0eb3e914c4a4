"""What the console serves: every job's definitions, and the database pools it reads with.

The definitions are loaded once at start by each job's own ``load_definitions`` (the
CLI's loader); a changed config takes a restart, as it does for a cron job's next run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from services.base import (
    Databases,
    DatabaseUrls,
    ExportDefinition,
    RetryPolicy,
    TablesyncError,
    format_duration,
)

log = logging.getLogger(__name__)

Loader = Callable[[], dict[str, ExportDefinition]]
# A page waits at most this long for a pooled connection before it says what is down.
POOL_WAIT_S = 5.0
# Trouble that means "a database is unreachable now", not a bug: the pools start afresh.
DOWN_ERRORS = (TablesyncError, psycopg.OperationalError, PoolTimeout)


@dataclass(frozen=True)
class Catalog:
    """Job name -> its definitions by name, in the order the jobs list them."""

    jobs: dict[str, dict[str, ExportDefinition]]

    @classmethod
    def load(cls, loaders: Mapping[str, Loader]) -> Catalog:
        return cls({job: load() for job, load in loaders.items()})

    def find(self, job: str, name: str) -> ExportDefinition | None:
        return self.jobs.get(job, {}).get(name)

    def pairs(self) -> list[tuple[str, str]]:
        return [(job, name) for job, definitions in self.jobs.items() for name in definitions]


def transform_name(definition: ExportDefinition) -> str | None:
    """``module.function`` of the definition's transform, or None."""
    transform = definition.transform
    if transform is None:
        return None
    name = getattr(transform, "__qualname__", None) or type(transform).__name__
    module = getattr(transform, "__module__", None)
    return f"{module}.{name}" if module else name


def definition_settings(definition: ExportDefinition, default_max_lag_s: float) -> dict[str, Any]:
    """What a person wants to know of a definition, as plain values (the JSON and the page)."""
    src, dst = definition.source, definition.destination
    return {
        "source": f"{src.schema_}.{src.table}",
        "cursor": src.cursor.field,
        "id_field": src.cursor.id_field,
        "columns": src.columns,
        "destination": f"{dst.schema_}.{dst.table}",
        "conflict_columns": dst.conflict_columns,
        "transform": transform_name(definition),
        # A select's SQL per destination column and source.where, as written (pages escape them).
        "select": dict(definition.select) if definition.select is not None else None,
        "where": src.where,
        "batch_size": definition.batch_size,
        "max_lag": format_duration(max_lag_s(definition, default_max_lag_s)),
        "max_lag_s": max_lag_s(definition, default_max_lag_s),
    }


def max_lag_s(definition: ExportDefinition, default_s: float) -> float:
    """The definition's own ``max_lag``, else the console's TABLESYNC_MAX_LAG."""
    return definition.max_lag if definition.max_lag is not None else default_s


class ConsolePools:
    """The console's core and analytics pools, opened again after a database was down.

    A command-line run keeps a failure for its whole (short) life; the console lives for
    weeks, so the next request after an outage tries afresh.
    """

    def __init__(self, urls: DatabaseUrls) -> None:
        self._urls = urls
        self._lock = threading.Lock()
        self._dbs: Databases | None = None

    def _current(self) -> Databases:
        with self._lock:
            if self._dbs is None:
                # One try per request: the caller answers at once and the next one retries.
                self._dbs = Databases(
                    self._urls, max_size=4, retry=RetryPolicy(attempts=1), wait_s=POOL_WAIT_S
                )
            return self._dbs

    @contextmanager
    def databases(self) -> Iterator[Databases]:
        """The pools; a database error inside drops them, so the next caller reconnects."""
        dbs = self._current()
        try:
            yield dbs
        except DOWN_ERRORS:
            self._drop(dbs)
            raise

    def _drop(self, dbs: Databases) -> None:
        with self._lock:
            if self._dbs is dbs:
                self._dbs = None
        dbs.close()

    def close(self) -> None:
        with self._lock:
            dbs, self._dbs = self._dbs, None
        if dbs is not None:
            dbs.close()
