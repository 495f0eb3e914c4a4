"""Health for probes: can the console reach core and analytics, and is analytics migrated?

Each probe opens connections of its own with a short timeout and no retry, so a probe
answers within seconds whatever the pools are doing, and says which part is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from services.base import (
    DatabaseUrls,
    RetryPolicy,
    TablesyncError,
    check_connection,
    first_line,
    redact,
)
from services.store import check_runner_tables

CHECK_TIMEOUT_S = 3


@dataclass
class Health:
    """Each check's verdict ("ok" or what is wrong), and whether all passed."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(v == "ok" for v in self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        failing = [name for name, verdict in self.checks.items() if verdict != "ok"]
        return {
            "status": "ok" if self.ok else "unavailable",
            "checks": self.checks,
            "failing": failing,
        }


def _reach(url: str, role: str) -> str:
    try:
        check_connection(url, role, read_only=role == "core", retry=RetryPolicy(attempts=1))
    except TablesyncError as exc:
        return redact(str(exc))
    return "ok"


def _migrations(url: str) -> str:
    try:
        with psycopg.connect(url, connect_timeout=CHECK_TIMEOUT_S, autocommit=True) as conn:
            problems = check_runner_tables(conn)
    except psycopg.Error as exc:
        return redact(f"cannot read the migrations: {first_line(exc)}")
    return redact("; ".join(problems)) if problems else "ok"


def check_health(urls: DatabaseUrls) -> Health:
    """Core and analytics reachable, analytics' migrations all applied."""
    health = Health()
    health.checks["core"] = _reach(urls.core, "core")
    health.checks["analytics"] = analytics = _reach(urls.analytics, "analytics")
    health.checks["migrations"] = (
        _migrations(urls.analytics) if analytics == "ok" else "unknown: analytics is unreachable"
    )
    return health
