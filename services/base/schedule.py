"""A definition's ``schedule``: ``"every 5m"`` or a cron expression, and its due times.

Due times are a function of the schedule and the clock only, never of when a process
started: ``every 5m`` is due at each multiple of five minutes since the Unix epoch
(UTC), a cron expression at each minute croniter finds (UTC). So every console
computes the same due time for the same instant, and one claim per (definition,
due time) decides which of them runs it (services/store/schedule_claims.py).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.base.durations import format_duration, parse_duration

if TYPE_CHECKING:
    from croniter import croniter

_EVERY = "every "
# Each scheduled run leaves a run record: for seconds-fresh tables --follow is the tool.
MIN_EVERY_S = 1.0


@dataclass(frozen=True)
class Schedule:
    """When a definition is due: every ``every_s`` seconds, or at ``cron``'s times."""

    text: str
    every_s: float | None = None
    cron: str | None = None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """``"every 5m"`` / ``"every 1h30m"`` or a 5-field cron expression; ValueError says
        what is accepted."""
        stripped = " ".join(text.split())
        if stripped.lower().startswith(_EVERY):
            every_s = parse_duration(stripped[len(_EVERY) :])
            if every_s < MIN_EVERY_S:
                raise ValueError(
                    f"schedule {text!r} is more often than every {format_duration(MIN_EVERY_S)}"
                )
            return cls(stripped, every_s=every_s)
        if len(stripped.split()) == 5 and _croniter().is_valid(stripped):
            return cls(stripped, cron=stripped)
        raise ValueError(
            f"schedule {text!r} is neither 'every DURATION' (every 5m, every 1h) nor a cron"
            " expression of five fields (*/15 * * * *)"
        )

    def due_at_or_before(self, now: dt.datetime) -> dt.datetime:
        """The latest due time at or before ``now`` (UTC)."""
        if self.every_s is not None:
            epoch = now.timestamp()
            return _utc(math.floor(epoch / self.every_s) * self.every_s)
        assert self.cron is not None
        # Cron's times are whole minutes; get_prev is strictly before its start.
        minute = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
        if _croniter().match(self.cron, minute):
            return minute
        return _croniter()(self.cron, minute).get_prev(dt.datetime).astimezone(dt.UTC)

    def next_after(self, now: dt.datetime) -> dt.datetime:
        """The first due time strictly after ``now`` (UTC)."""
        if self.every_s is not None:
            epoch = now.timestamp()
            return _utc((math.floor(epoch / self.every_s) + 1) * self.every_s)
        assert self.cron is not None
        return _croniter()(self.cron, now).get_next(dt.datetime).astimezone(dt.UTC)


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def _croniter() -> type[croniter]:
    """croniter, imported by the first cron schedule: with dateutil it costs every process
    ~9 ms to import, and a run (every definition is loaded) seldom needs it."""
    from croniter import croniter

    return croniter
