"""``--follow``: one process keeps definitions in step, a cycle every DURATION, until stopped.

Each definition is a Follower (services/follow/follower.py) on connections, a lock
and a plan of its own, opened once. The loop runs each one's cycle when it is due,
one after the other, and sleeps until the next is due; a signal wakes the sleep. A
signal (SIGTERM, SIGINT) stops the cycle in flight as rule 13 says (the batch in
flight rolled back, or let finish once committing, within TABLESYNC_STOP_TIMEOUT_S)
and ends the process with exit 0: for a follower a stop is the normal end of service.
A definition problem stops following that definition only; when none is left to
follow, the process ends with its error (exit 2).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from services.base import (
    Databases,
    DatabaseUrls,
    ExportDefinition,
    JobFailedError,
    RunSettings,
    StoppedError,
    stopping,
)
from services.follow.follower import Follower, FollowSetup
from services.reporting import SlackSettings
from services.store import DeleteLimit

log = logging.getLogger(__name__)

DEFAULT_EVERY_S = 5.0
# The follower's run records say where they came from, unless TABLESYNC_ORIGIN does.
FOLLOW_ORIGIN = "follow"


@dataclass(frozen=True)
class FollowRequest:
    """What the command line asked to follow, and how often."""

    job: str
    definitions: Mapping[str, ExportDefinition]
    names: list[str]  # selected, in order
    every_s: float = DEFAULT_EVERY_S
    command: str = ""
    yes: bool = False


def follow_definitions(
    request: FollowRequest,
    *,
    environ: Mapping[str, str],
    on_cycle: Callable[[Follower], None] | None = None,
) -> None:
    """Follow ``request``'s definitions until a signal asks to stop (returns: exit 0), or
    until none is left to follow (JobFailedError with each definition's problem).
    ``environ`` is read once, here, before anything runs."""
    setup = _setup(request, environ)
    followers = [Follower(n, request.definitions[n], setup) for n in request.names]
    with setup.dbs, stopping.stoppable():
        why = "every definition stopped"
        try:
            _cycles(followers, on_cycle, setup.settings.heartbeat_file)
        except StoppedError as exc:
            signum = exc.signum or stopping.requested()
            why = f"stopped by {stopping.signal_name(signum)}" if signum else str(exc)
            log.info("follower %s: end of service", why)
        finally:
            for follower in followers:
                follower.stop(why)
    problems = [f.done for f in followers if f.done is not None]
    if problems and len(problems) == len(followers) and not stopping.requested():
        raise JobFailedError(problems)


def _cycles(
    followers: list[Follower],
    on_cycle: Callable[[Follower], None] | None,
    heartbeat: Path | None,
) -> None:
    """Each follower's cycle when it is due, until none is left (StoppedError ends it);
    ``heartbeat`` touched after each round, so a probe can tell a hung process."""
    while True:
        active = [f for f in followers if f.done is None]
        if not active:
            return
        for follower in active:
            if follower.next_try <= time.monotonic():
                follower.step()
                if on_cycle is not None:
                    on_cycle(follower)
        if heartbeat is not None:
            heartbeat.touch()
        wake = min((f.next_try for f in followers if f.done is None), default=0.0)
        stopping.sleep(max(wake - time.monotonic(), 0.0))


def _setup(request: FollowRequest, environ: Mapping[str, str]) -> FollowSetup:
    """Every variable the followers need, read and checked before anything runs (exit 2)."""
    import dataclasses

    urls = DatabaseUrls.from_env(environ)
    settings = RunSettings.from_env(environ)
    if settings.origin == RunSettings().origin:
        settings = dataclasses.replace(settings, origin=FOLLOW_ORIGIN)
    stopping.configure(settings.stop_timeout_s)
    # Each definition holds a core and an analytics connection; one more to record a
    # failure on a fresh connection, one to spare.
    size = len(request.names) + 2
    dbs = Databases(urls, max_size=size, retry=settings.connect, timeouts=settings.timeouts)
    return FollowSetup(
        job=request.job,
        dbs=dbs,
        settings=settings,
        slack=SlackSettings.from_env(environ),
        deletes=DeleteLimit(settings.max_delete_fraction, allowed=request.yes),
        command=request.command,
        every_s=request.every_s,
    )
