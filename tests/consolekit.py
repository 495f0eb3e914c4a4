"""Helpers for the console tests: the real console (uvicorn on a free port, started as
``run_job.py serve`` with test definitions), a small HTTP client, test definitions.

The console runs in a subprocess exactly as an operator starts it; runs it starts are
its own children (``run_job.py export-to-pg NAME`` with the same test definitions).
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from dbtools import REPO_ROOT, CliResult, TestDatabases, cli_command, run_cli
from faultkit import EVENTS_ANALYTICS, EVENTS_CORE, JOB, create_events, fault_env

TOKEN = "console-test-token-Zq81-secret"
START_TIMEOUT_S = 30.0
XSS_NAME = '<script>alert("name")</script>'  # as tests/definitions/console.py names it


@dataclass
class Cli:
    """The command line with the console's test definitions, in ``workdir``."""

    env: dict[str, str]
    workdir: Path

    def command(self, *args: str) -> list[str]:
        return cli_command(args, self.env, REPO_ROOT)

    def sync(self, *names: str, extra_env: Mapping[str, str] | None = None) -> CliResult:
        return run_cli([JOB, *names], {**self.env, **(extra_env or {})}, cwd=self.workdir)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Console:
    """A console serving on ``port``; ``cli`` runs the same definitions from the shell."""

    port: int
    process: subprocess.Popen[str]
    cli: Cli
    log: Path
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Reply:
        """One request, no redirect followed; Set-Cookie lands in ``cookies``."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            got = Reply(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    self.cookies[key] = rest.split(";", 1)[0]
            return got
        finally:
            conn.close()

    def stop(self) -> int:
        """SIGTERM, as Kubernetes stops it; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def console_cli(dbs: TestDatabases, workdir: Path) -> Cli:
    """The CLI with the console's test definitions, the events and bad_events tables made."""
    create_events(dbs)
    dbs.query_core(EVENTS_CORE.replace("TABLE events", "TABLE bad_events"))
    dbs.query_core(EVENTS_CORE.replace("TABLE events", "TABLE slow_fail"))
    for table in ("bad_events", "events_copy", "events_slow", "slow_fail", "droppable"):
        made = EVENTS_ANALYTICS.replace("analytics_raw.events", f"analytics_raw.{table}")
        dbs.query_analytics(made)
    return Cli(fault_env(dbs, workdir, "console"), workdir)


@contextmanager
def serving(
    cli: Cli,
    *,
    token: str | None = TOKEN,
    extra_env: Mapping[str, str] | None = None,
    host: str | None = None,
) -> Iterator[Console]:
    """The console on a free port until the block ends (then SIGTERM, and it must stop)."""
    port = free_port()
    env = {**cli.env, **(extra_env or {})}
    env["TABLESYNC_API_TOKEN"] = token or ""
    log = cli.workdir / f"console-{port}.log"
    args = ["serve", "--port", str(port)] + (["--host", host] if host else [])
    with log.open("w") as out:
        process = subprocess.Popen(
            cli.command(*args),
            cwd=cli.workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    console = Console(port, process, cli, log)
    try:
        _wait_until_live(console)
        yield console
    finally:
        console.stop()


def _wait_until_live(console: Console) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if console.process.poll() is not None:
            raise RuntimeError(
                f"the console exited {console.process.returncode}:\n{console.log.read_text()}"
            )
        try:
            if console.request("GET", "/api/v1/health/live").status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(
        f"the console did not answer in {START_TIMEOUT_S}s:\n{console.log.read_text()}"
    )


def sign_in(console: Console, token: str = TOKEN) -> str:
    """Sign in through the form as a browser does; returns the CSRF token of the session."""
    form = console.request("GET", "/signin")
    csrf = csrf_of(form.text)
    reply = console.request(
        "POST", "/signin", form={"csrf_token": csrf, "token": token, "next": "/"}
    )
    assert reply.status == 303, reply.text
    return csrf_of(console.request("GET", "/").text)


def csrf_of(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def wait_for_run(dbs: TestDatabases, run_id: int, timeout_s: float = 60.0) -> dict[str, Any]:
    """The run record once it is no longer running."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = dbs.query_analytics(
            "SELECT status, origin, rows_read FROM tablesync.runs WHERE id = %s", (run_id,)
        )
        if rows and rows[0][0] != "running":
            return {"status": rows[0][0], "origin": rows[0][1], "rows_read": rows[0][2]}
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still running after {timeout_s}s")


def hold_lock(conn: Any, definition: str, job: str = JOB) -> None:
    """Take ``definition``'s run lock on ``conn`` as a run elsewhere would."""
    conn.execute(
        "SELECT pg_advisory_lock(hashtextextended('tablesync:' || %s || ':' || %s, 0))",
        (job, definition),
    )
