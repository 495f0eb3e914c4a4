"""Runs started over HTTP: one child process per run, an ordinary command-line run.

The child is ``python run_job.py JOB NAME`` with ``TABLESYNC_ORIGIN=console``: the same
lock as cron's runs, its own run record (which says where it came from), Slack. A run
that fails or crashes ends its own process, never the console's. A held lock is
answered at once (409): the console asks the same advisory lock the run takes, and a
child that still loses the race exits 75, which is answered the same way.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.base import EXIT_CONFIGURATION, EXIT_LOCKED, ORIGIN_VARIABLE, redact
from services.console.catalog import ConsolePools
from services.store import REFUSED_NOTE, Opened, lock_is_held, newest_run_id, run_started_by

log = logging.getLogger(__name__)

ORIGIN = "console"
# How long a child may take to open its run record (start-up, pre-flight) before the
# request gives up waiting for it (the run goes on; the overview will show it).
START_WAIT_S = 30.0
POLL_S = 0.05
_TAIL_LINES = 20


@dataclass
class Child:
    """One run's process, and the last lines it wrote to stderr."""

    job: str
    definition: str
    process: subprocess.Popen[str]
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=_TAIL_LINES))

    def error_text(self) -> str:
        lines = [line for line in self.tail if line.startswith("error:")] or list(self.tail)[-3:]
        return redact(" ".join(line.removeprefix("error:").strip() for line in lines))


@dataclass(frozen=True)
class Started:
    """What became of one requested definition: a run id, or why there is none.

    ``refused``: its pre-flight check refused it (exit 2); ``run_id`` is then the failed
    record the refusal left, when analytics could take one (contract rule 18).
    """

    job: str
    definition: str
    run_id: int | None = None
    locked: bool = False
    error: str | None = None
    refused: bool = False

    @property
    def outcome(self) -> str:
        """started, refused, locked or "not started" (it ended early some other way)."""
        if self.refused:
            return "refused"
        if self.locked:
            return "locked"
        return "started" if self.run_id is not None else "not started"


class LockHeld(Exception):
    """Some requested definitions' locks are held; nothing was started."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__(f"a run of {', '.join(names)} is already going (its lock is held)")


def _opened(child: Child, opened: Opened) -> Started:
    """A child's run record: a run under way (or already over), or its refusal's record,
    which is written finished in one transaction, so it is never seen running first."""
    if opened.note == REFUSED_NOTE:
        error = redact(opened.error or "refused by its pre-flight check")
        return Started(child.job, child.definition, run_id=opened.id, error=error, refused=True)
    return Started(child.job, child.definition, run_id=opened.id)


class Launcher:
    """The console's running children, started and stopped by it alone."""

    def __init__(
        self,
        runner: Sequence[str],
        pools: ConsolePools,
        *,
        environ: Mapping[str, str],
        stop_timeout_s: float,
    ) -> None:
        self._runner = list(runner)
        self._pools = pools
        # The children's environment: the console's own, as serve read it at start.
        self._environ = dict(environ)
        self._children: dict[tuple[str, str], Child] = {}
        self._lock = threading.Lock()
        self._stop_timeout_s = stop_timeout_s  # TABLESYNC_STOP_TIMEOUT_S, checked at start

    def running(self) -> list[Child]:
        with self._lock:
            return [c for c in self._children.values() if c.process.poll() is None]

    def start(
        self, job: str, names: Sequence[str], *, skip_busy: bool = False, origin: str = ORIGIN
    ) -> list[Started]:
        """Start a run of each of ``names``, in order; ``origin`` goes into their records.

        When one is busy (its lock held, or ours still starting), raise LockHeld and start
        none; with ``skip_busy``, start the others and report the busy ones as locked.
        """
        with self._lock, self._pools.databases() as dbs, dbs.analytics.connection() as conn:
            conn.autocommit = True
            busy = [n for n in names if self._is_ours_running(job, n) or lock_is_held(conn, job, n)]
            if busy and not skip_busy:
                raise LockHeld(busy)
            after_id = newest_run_id(conn)
            children = [self._spawn(job, name, origin) for name in names if name not in busy]
        refused = [Started(job, n, locked=True, error="its lock is held") for n in busy]
        return [*(self._await_record(child, after_id) for child in children), *refused]

    def _is_ours_running(self, job: str, name: str) -> bool:
        # A child started a moment ago may not hold its lock yet.
        child = self._children.get((job, name))
        return child is not None and child.process.poll() is None

    def _spawn(self, job: str, name: str, origin: str) -> Child:
        env = {**self._environ, ORIGIN_VARIABLE: origin}
        process = subprocess.Popen(
            [*self._runner, job, name],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            # Its own process group: a Ctrl-C meant for the console reaches the run only
            # as the console's own SIGTERM, once, when the console stops.
            start_new_session=True,
        )
        child = Child(job, name, process)
        self._children[(job, name)] = child
        threading.Thread(
            target=self._follow, args=(child,), daemon=True, name=f"run-{name}"
        ).start()
        log.info("started %s %s (pid %d)", job, name, process.pid)
        return child

    def _follow(self, child: Child) -> None:
        """Log the child's stderr as the console's own lines; note how it ended."""
        assert child.process.stderr is not None
        for line in child.process.stderr:
            child.tail.append(line.rstrip())
            log.info("%s: %s", child.definition, redact(line.rstrip()))
        code = child.process.wait()
        log.info("%s %s (pid %d) exited %d", child.job, child.definition, child.process.pid, code)

    def _await_record(self, child: Child, after_id: int) -> Started:
        """Wait until the child opened its run record, or exited without one."""
        deadline = time.monotonic() + START_WAIT_S
        host, pid = socket.gethostname(), child.process.pid
        while time.monotonic() < deadline:
            exited = child.process.poll() is not None
            with self._pools.databases() as dbs, dbs.analytics.connection() as conn:
                conn.autocommit = True
                opened = run_started_by(
                    conn,
                    job=child.job,
                    definition=child.definition,
                    host=host,
                    pid=pid,
                    after_id=after_id,
                )
            if opened is not None:
                return _opened(child, opened)
            if exited:
                return self._ended_early(child)
            time.sleep(POLL_S)
        return Started(child.job, child.definition, error="the run has not opened its record yet")

    def _ended_early(self, child: Child) -> Started:
        child.process.wait()
        time.sleep(POLL_S)  # let the stderr reader take the last lines
        if child.process.returncode == EXIT_LOCKED:
            return Started(child.job, child.definition, locked=True, error="its lock is held")
        return Started(
            child.job,
            child.definition,
            error=child.error_text() or "the run could not start",
            refused=child.process.returncode == EXIT_CONFIGURATION,
        )

    def stop_all(self, timeout_s: float | None = None) -> None:
        """SIGTERM to every running child, then wait for them (SIGKILL past the timeout)."""
        running = self.running()
        for child in running:
            log.info("stopping %s (pid %d)", child.definition, child.process.pid)
            child.process.send_signal(signal.SIGTERM)
        # The run's own stop timeout, and a little more for it to record how it ended.
        deadline = time.monotonic() + (self._stop_timeout_s + 5 if timeout_s is None else timeout_s)
        for child in running:
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s (pid %d) did not stop in time: killed", child.definition, child.process.pid
                )
                child.process.kill()
                child.process.wait()
