"""What one run of one definition did: counts, positions, outcome."""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from services.base.constants import DEFAULT_ORIGIN, RunStatus
from services.base.position import named_key


@dataclass
class RunCounts:
    """Row counters of a run; created + updated + deleted + skipped + errors == read.

    ``deleted`` counts destination rows a run removed: rows read with their
    soft-delete flag set, or a transform's ``Delete``, whose key analytics held
    (a delete of a key it did not hold is skipped), and extra rows a repair removed.
    """

    read: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    errors: int = 0
    null_cursor: int = 0

    def add(self, other: RunCounts) -> None:
        for f in dataclasses.fields(self):
            if f.name != "null_cursor":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True)
class RunIdentity:
    """Who a run record names: the definition run, the process running it (by default this
    one) and how it was started (its command line, redacted when stored, and origin)."""

    job: str
    definition: str
    command: str
    origin: str = DEFAULT_ORIGIN
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


@dataclass
class RunResult:
    """Outcome of one definition run, as reported to the console, JSON and Slack."""

    job: str
    definition: str
    status: RunStatus = RunStatus.RUNNING
    run_id: int | None = None
    counts: RunCounts = field(default_factory=RunCounts)
    position_before: dict[str, Any] | None = None
    position_after: dict[str, Any] | None = None
    started_at: float = 0.0
    finished_at: float | None = None
    error: str | None = None
    failed_batch: dict[str, Any] | None = None
    failure_file: str | None = None
    held_back: str | None = None
    exit_code: int = 0
    host: str = ""
    pid: int = 0
    # Worker processes that transformed batches (services/sync/transform/transform_workers.py).
    transform_workers: int = 0
    # Times the run reconnected after a lost connection (services/sync/run/resume.py).
    resumes: int = 0
    # A backfill's progress over all its runners (services/sync/backfill/chunk_loop.py):
    # {"done": chunks done, "total": chunks, "rows": rows those chunks read,
    #  "pages_done": heap blocks those chunks cover, "pages_total": the plan's blocks}.
    chunks: dict[str, int] | None = None
    # Column names of the cursor, so people read updatedAt=... rather than value=...
    cursor_field: str = "value"
    id_field: str | list[str] | None = None

    def identity(self, command: str, origin: str) -> RunIdentity:
        """This run as its record names it, started by ``command`` from ``origin``."""
        return RunIdentity(self.job, self.definition, command, origin, self.host, self.pid)

    def named(self, position: dict[str, Any] | None) -> dict[str, Any] | None:
        """``position`` ({"value", "id"}) keyed by the cursor's column names instead."""
        if not position:
            return None
        return named_key(
            self.cursor_field, self.id_field, position.get("value"), position.get("id")
        )

    @property
    def shown_position(self) -> dict[str, Any] | None:
        """The position to show people: after the run, else before it."""
        return self.named(self.position_after or self.position_before)

    @property
    def shown_batch(self) -> dict[str, Any] | None:
        """The failed batch's range with named positions."""
        if not self.failed_batch:
            return None
        return {
            k: self.named(v) if isinstance(v, dict) else v for k, v in self.failed_batch.items()
        }

    @property
    def refused(self) -> bool:
        """Failed with exit 2: a problem found before anything was written (rule 18)."""
        # 2 is services.base.errors.EXIT_CONFIGURATION, which imports this module.
        return self.status == RunStatus.FAILED and self.exit_code == 2

    @property
    def duration_s(self) -> float:
        end = self.finished_at if self.finished_at is not None else self.started_at
        return max(end - self.started_at, 0.0)

    @property
    def rows_per_s(self) -> float:
        return self.counts.read / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["status"] = str(self.status)
        out["duration_s"] = round(self.duration_s, 3)
        out["rows_per_s"] = round(self.rows_per_s, 1)
        return out
