"""What runs by itself, as the status view shows it: a follower (``--follow``) and a
``schedule`` (run by ``serve``).

A follower is shown while its session's heartbeat is recent (services/store/followers.py);
a schedule by its next due time, and as *late* when a due time passed more than
LATE_AFTER_S ago and no console claimed it (services/store/schedule_claims.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from services.base import RUNNER_SCHEMA, ExportDefinition
from services.store import FollowerSession, latest_claims, latest_sessions, relation_exists

Conn = psycopg.Connection[Any]
# A due time not claimed this long after it was due is late: a console polls every few
# seconds, so a minute means none is running the schedule.
LATE_AFTER_S = 60.0


@dataclass(frozen=True)
class ScheduleState:
    """A definition's schedule now: its text, its next due time, a due time missed."""

    text: str
    next_at: dt.datetime
    late_since: dt.datetime | None  # the due time no console has started, when late

    def as_dict(self) -> dict[str, Any]:
        return {"schedule": self.text, "next_at": self.next_at, "late_since": self.late_since}


@dataclass(frozen=True)
class Live:
    """The follower and the schedule of one definition, each None when there is none."""

    follower: FollowerSession | None = None
    schedule: ScheduleState | None = None


def live_states(
    analytics: Conn, job: str, definitions: Mapping[str, ExportDefinition], now: dt.datetime
) -> dict[str, Live]:
    """Each definition's live state (followers whose heartbeat is recent, schedules)."""
    followers: dict[tuple[str, str], FollowerSession] = {}
    claims: dict[tuple[str, str], dt.datetime] = {}
    if relation_exists(analytics, RUNNER_SCHEMA, "follower_sessions"):  # else: not migrated
        followers = latest_sessions(analytics, job)
        claims = latest_claims(analytics, job)
    found: dict[str, Live] = {}
    for name, definition in definitions.items():
        session = followers.get((job, name))
        follower = session if session is not None and session.live else None
        found[name] = Live(follower, schedule_state(definition, claims.get((job, name)), now))
    return found


def schedule_state(
    definition: ExportDefinition, claimed: dt.datetime | None, now: dt.datetime
) -> ScheduleState | None:
    """``definition``'s schedule now, given the newest due time claimed for it."""
    schedule = definition.parsed_schedule
    if schedule is None:
        return None
    due = schedule.due_at_or_before(now)
    overdue = (now - due).total_seconds() > LATE_AFTER_S
    late = due if overdue and (claimed is None or claimed < due) else None
    return ScheduleState(schedule.text, schedule.next_after(now), late)
