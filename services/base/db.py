"""One connection pool per database; core connections are read-only."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import ConnectionPool

from services.base import stall
from services.base.constants import APPLICATION_NAME, CONNECT_TIMEOUT_S, POOL_OPEN_TIMEOUT_S
from services.base.errors import ConfigurationError, TransientError, first_line
from services.base.redact import redact
from services.base.settings import DatabaseUrls, env_count, env_number, read_all
from services.base.timeouts import Timeouts

log = logging.getLogger(__name__)

set_json_dumps(orjson.dumps)
set_json_loads(orjson.loads)

# SQLSTATE classes that mean "your settings are wrong", not "try again later":
# 28 = invalid authorization, 3D = invalid catalog (no such database).
_CONFIGURATION_SQLSTATE_CLASSES = ("28", "3D")
_CONFIGURATION_MESSAGES = (
    "password authentication failed",
    "does not exist",
    "no password supplied",
)
# libpq refusing a connection option's value before it tries any server (an sslmode
# it does not know, a port that is not a number): retrying cannot help.
_BAD_OPTION = re.compile(
    r"invalid [\w ]*value|invalid port number|for connection option|could not match \d+"
)


RETRIES_VARIABLE = "TABLESYNC_CONNECT_RETRIES"
POOL_WAIT_S = 30.0  # psycopg_pool's own default
BACKOFF_VARIABLE = "TABLESYNC_CONNECT_BACKOFF_S"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a connection that fails transiently.

    ``attempts`` counts every try, the first included; the delay between two
    tries starts at ``first_delay_s`` and doubles up to ``max_delay_s``.
    """

    attempts: int = 3
    first_delay_s: float = 0.5
    max_delay_s: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RetryPolicy:
        """TABLESYNC_CONNECT_RETRIES (retries after the first try, default 2) and
        TABLESYNC_CONNECT_BACKOFF_S (first delay, default 0.5 s); bad values are exit 2."""
        read = read_all(
            environ,
            {
                "retries": lambda env: env_count(env, RETRIES_VARIABLE, cls.attempts - 1),
                "first": lambda env: env_number(
                    env, BACKOFF_VARIABLE, cls.first_delay_s, minimum=0
                ),
            },
        )
        retries, first = read["retries"], read["first"]
        return cls(attempts=retries + 1, first_delay_s=first, max_delay_s=max(first, 5.0))

    def delays(self) -> Iterator[float]:
        delay = self.first_delay_s
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay_s)


def _is_configuration_problem(exc: psycopg.Error) -> bool:
    if isinstance(exc, psycopg.ProgrammingError):  # a connection string libpq cannot parse
        return True
    sqlstate = exc.sqlstate or ""
    if sqlstate[:2] in _CONFIGURATION_SQLSTATE_CLASSES:
        return True
    text = str(exc)
    return any(m in text for m in _CONFIGURATION_MESSAGES) or bool(_BAD_OPTION.search(text))


def _connect_once(
    url: str, role: str, read_only: bool, timeouts: Timeouts | None = None
) -> psycopg.Connection[Any]:
    return psycopg.connect(url, **_connection_kwargs(role, read_only, timeouts))


def _connection_kwargs(
    role: str, read_only: bool, timeouts: Timeouts | None = None
) -> dict[str, Any]:
    timeouts = timeouts or Timeouts()
    kwargs: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": f"{APPLICATION_NAME}:{role}",
        # A hung connection becomes a lost one (services/base/timeouts.py).
        **timeouts.connection_kwargs(),
    }
    # Fixed session settings make PostgreSQL's text form of saved positions
    # the same on both servers, whatever the roles' defaults: exact and ISO.
    options = (
        "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=3"
    ) + timeouts.options()
    if read_only:
        # Every transaction on this connection, autocommit ones included, is
        # read-only on the server side: the runner cannot write to core.
        options += " -c default_transaction_read_only=on"
    kwargs["options"] = options
    return kwargs


def check_connection(url: str, role: str, *, read_only: bool, retry: RetryPolicy) -> None:
    """Connect once, retrying transient failures; raise a classified error."""
    delays = retry.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            _connect_once(url, role, read_only).close()
            return
        except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
            message = f"cannot connect to the {role} database: {redact(first_line(exc))}"
            if _is_configuration_problem(exc):
                raise ConfigurationError(message) from None
            delay = next(delays, None)
            if delay is None:
                raise TransientError(
                    f"{message} (gave up after {attempt} attempt(s); set"
                    f" {RETRIES_VARIABLE} / {BACKOFF_VARIABLE} to retry longer)"
                ) from None
            log.warning(
                "%s; attempt %d of %d, retrying in %.2f s",
                message,
                attempt,
                retry.attempts,
                delay,
            )
            time.sleep(delay)


def _restore_read_only(conn: psycopg.Connection[Any]) -> None:
    """Put a core connection back to read-only as it goes back to the pool.

    A ``select`` expression (user SQL) can run ``set_config('default_transaction_read_only',
    'off', false)``; committed, that would outlive its run and hand the next one, of any
    definition, a session that writes. RESET returns it to the connection's start-up value.
    The server reports the setting's changes (GUC_REPORT since PostgreSQL 14), so a
    connection that kept it costs no round trip, and a dead one is not queried here.
    """
    if conn.info.parameter_status("default_transaction_read_only") == "on":
        return
    conn.execute("RESET default_transaction_read_only")
    conn.commit()


class _FirstConnect:
    """Whether a pool's first connection attempt succeeded, told to the opener.

    The pool connects in its own worker thread and only logs a failure; this
    lets the opener know at once and classify the failure itself.
    """

    def __init__(self) -> None:
        self._done = threading.Event()
        self._ok = False

    def report(self, ok: bool) -> None:
        if not self._done.is_set():
            self._ok = ok
            self._done.set()

    def succeeded(self, timeout: float) -> bool:
        """True once the first attempt connected; False if it failed or did not end in time."""
        return self._done.wait(timeout) and self._ok

    def connection_class(self) -> type[psycopg.Connection[Any]]:
        first = self

        class _Reporting(psycopg.Connection[Any]):
            @classmethod
            def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
                try:
                    conn = super().connect(conninfo, **kwargs)
                except BaseException:
                    first.report(False)
                    raise
                first.report(True)
                return conn

        return _Reporting


@dataclass(frozen=True)
class _Opening:
    """A pool being opened in the background, and how its first connection went."""

    role: str
    pool: ConnectionPool
    first: _FirstConnect


class Databases:
    """The core (read-only) and analytics pools of one CLI invocation."""

    def __init__(
        self,
        urls: DatabaseUrls,
        *,
        max_size: int = 4,
        retry: RetryPolicy | None = None,
        wait_s: float = POOL_WAIT_S,
        timeouts: Timeouts | None = None,
    ):
        self.urls = urls
        # How long a caller waits for a pooled connection (a server that went away
        # after the pool opened makes it wait this long, then PoolTimeout).
        self._wait_s = wait_s
        # The defaults, not the environment's: a command reads its variables once
        # (RunSettings) and passes connect and timeouts here.
        self.retry = retry or RetryPolicy()
        self.timeouts = timeouts or Timeouts()
        self._max_size = max_size
        self._core: ConnectionPool | None = None
        self._analytics: ConnectionPool | None = None
        # A database that stayed unreachable through every retry is not retried
        # again by the next caller of the same invocation: the error is kept.
        self._failed: dict[str, TransientError] = {}
        # Parallel definitions (--jobs) ask for a pool at the same moment: open it once.
        self._opening = threading.Lock()

    def _pool(
        self, url: str, role: str, *, read_only: bool, first: _FirstConnect | None
    ) -> ConnectionPool:
        return ConnectionPool(
            url,
            connection_class=first.connection_class() if first else psycopg.Connection,
            min_size=1,
            max_size=self._max_size,
            timeout=self._wait_s,
            kwargs=_connection_kwargs(role, read_only, self.timeouts),
            open=False,
            name=f"{APPLICATION_NAME}-{role}",
            # A connection handed out is alive: after a server restart the
            # next definition gets a fresh one, not the dead one; a stalled one
            # is found by the watchdog instead of hanging the check.
            check=self._check,
            reset=_restore_read_only if read_only else None,
        )

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        with stall.watched(self.timeouts.stall_s, pooled=conn):
            ConnectionPool.check_connection(conn)

    def _start(self, role: str) -> _Opening:
        """Start connecting ``role``'s pool in the background; does not wait."""
        if role in self._failed:
            raise self._failed[role]
        url, read_only = self._role_url(role)
        first = _FirstConnect()
        pool = self._pool(url, role, read_only=read_only, first=first)
        pool.open(wait=False)
        return _Opening(role, pool, first)

    def _complete(self, opening: _Opening) -> ConnectionPool:
        """The started pool once its first connection is in; a classified error if it failed.

        The pool's own first connection is the only one on the success path; the
        retrying, classifying probe runs only when that connection failed.
        """
        if opening.first.succeeded(timeout=CONNECT_TIMEOUT_S + 1):
            opening.pool.wait(timeout=POOL_OPEN_TIMEOUT_S)
            return opening.pool
        opening.pool.close()
        url, read_only = self._role_url(opening.role)
        try:
            check_connection(url, opening.role, read_only=read_only, retry=self.retry)
        except TransientError as exc:
            self._failed[opening.role] = exc
            raise
        # The failure passed on a retry: open the pool the plain way.
        pool = self._pool(url, opening.role, read_only=read_only, first=None)
        pool.open(wait=True, timeout=POOL_OPEN_TIMEOUT_S)
        return pool

    def connect_core(self) -> psycopg.Connection[Any]:
        """A connection of its own to core, outside the pool, set up as the pool's are
        (read-only, UTC, ISO): for a transform worker process, which must not share
        the parent's sockets."""
        url, read_only = self._role_url("core")
        return _connect_once(url, "core", read_only, self.timeouts)

    def _role_url(self, role: str) -> tuple[str, bool]:
        return (self.urls.core, True) if role == "core" else (self.urls.analytics, False)

    def _open(self, role: str) -> ConnectionPool:
        return self._complete(self._start(role))

    def open(self) -> None:
        """Open both pools, connecting to the two databases at the same time.

        Errors are those of the properties, analytics' first when both fail.
        """
        with self._opening:
            roles = [r for r, p in (("analytics", self._analytics), ("core", self._core)) if not p]
            started: list[_Opening] = []
            try:
                for role in roles:
                    started.append(self._start(role))
                for opening in started:
                    pool = self._complete(opening)
                    if opening.role == "core":
                        self._core = pool
                    else:
                        self._analytics = pool
            except BaseException:
                # A pool started but not kept stops connecting (close is idempotent).
                for opening in started:
                    if opening.pool not in (self._core, self._analytics):
                        opening.pool.close()
                raise

    @property
    def core(self) -> ConnectionPool:
        with self._opening:
            if self._core is None:
                self._core = self._open("core")
            return self._core

    @property
    def analytics(self) -> ConnectionPool:
        with self._opening:
            if self._analytics is None:
                self._analytics = self._open("analytics")
            return self._analytics

    def forget_failures(self) -> None:
        """Try a database that stayed unreachable again on the next call (a follower keeps
        trying where a one-off run gives up)."""
        self._failed.clear()

    def close(self) -> None:
        for pool in (self._core, self._analytics):
            if pool is not None:
                pool.close()
        self._core = self._analytics = None

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
