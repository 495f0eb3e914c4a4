"""Runs the console starts: stopped with it, recorded with their origin; the origin and
freshness settings that come with them; the console's access rules on their own."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from consolekit import TOKEN, console_cli, serving
from dbtools import TestDatabases
from faultkit import JOB, insert_events

from services.base.definition import build_definition
from services.base.errors import ConfigurationError, InvalidDefinitionError
from services.base.settings import run_origin
from services.console.auth import SESSION_MAX_AGE_S, Auth, Caller, Need
from services.console.settings import console_settings, is_loopback


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stopping_the_console_sends_sigterm_to_its_runs_and_waits_for_them(
    dbs: TestDatabases, tmp_path: Path
) -> None:
    cli = console_cli(dbs, tmp_path)
    insert_events(dbs, 200)
    slow = {"TEST_ROW_DELAY_S": "0.05", "TEST_BATCH_SIZE": "5"}
    with serving(cli, extra_env=slow) as console:
        body = json.dumps({"job": JOB, "definitions": ["Events"]})
        run_id = console.request("POST", "/api/v1/runs", body=body, token=TOKEN).json()["runs"][0][
            "id"
        ]
        ((pid,),) = dbs.query_analytics("SELECT pid FROM tablesync.runs WHERE id = %s", (run_id,))
        assert _alive(pid)
        started = time.monotonic()
        console.stop()
        took = time.monotonic() - started
        log = console.log.read_text()
    assert not _alive(pid), "the run outlived the console"
    assert f"stopping Events (pid {pid})" in log
    assert took < 10 * 0.05 * 200, "the console did not stop its run: it waited for its end"
    ((rows_read,),) = dbs.query_analytics(
        "SELECT rows_read FROM tablesync.runs WHERE id = %s", (run_id,)
    )
    assert rows_read < 200


def test_a_run_from_the_shell_records_its_origin(dbs: TestDatabases, tmp_path: Path) -> None:
    cli = console_cli(dbs, tmp_path)
    insert_events(dbs, 3)
    assert cli.sync("Events", extra_env={"TABLESYNC_ORIGIN": "cronjob"}).code == 0
    assert cli.sync("Events").code == 0
    rows = dbs.query_analytics("SELECT origin FROM tablesync.runs ORDER BY id")
    assert rows == [("cronjob",), ("cli",)]
    bad = cli.sync("Events", extra_env={"TABLESYNC_ORIGIN": "no spaces; please"})
    assert bad.code == 2
    assert bad.error_lines == [
        "error: TABLESYNC_ORIGIN='no spaces; please' must be a label of at most 63 letters,"
        " digits and ._:/-"
    ]


def test_run_origin_defaults_to_cli() -> None:
    assert run_origin({}) == "cli"
    assert run_origin({"TABLESYNC_ORIGIN": "console"}) == "console"
    with pytest.raises(ConfigurationError):
        run_origin({"TABLESYNC_ORIGIN": "x" * 64})


SPEC = {
    "source": {"table": "t", "cursor": {"field": "at"}},
    "destination": {"table": "t", "conflict_columns": ["id"]},
}


def test_max_lag_is_a_duration_or_seconds() -> None:
    assert build_definition("D", {**SPEC, "max_lag": "1h30m"}).max_lag == 5400.0
    assert build_definition("D", {**SPEC, "max_lag": 90}).max_lag == 90.0
    assert build_definition("D", SPEC).max_lag is None
    with pytest.raises(
        InvalidDefinitionError, match="max_lag: Value error, 'soon' is not a duration"
    ):
        build_definition("D", {**SPEC, "max_lag": "soon"})


def test_a_definition_past_its_max_lag_is_late(dbs: TestDatabases, tmp_path: Path) -> None:
    cli = console_cli(dbs, tmp_path)
    dbs.query_core("INSERT INTO events (at, payload) VALUES (now() - interval '1 hour', 'old')")
    assert cli.sync("Events").code == 0
    insert_events(dbs, 1)  # an hour newer than the position: past Events' 15m
    with serving(cli) as console:
        found = console.request("GET", "/api/v1/definitions", token=TOKEN).json()
    events = next(d for d in found if d["definition"] == "Events")
    assert events["stale"] is True and "trails core by 1h" in events["stale_reason"]
    assert events["max_lag_s"] == 900.0


def test_the_default_max_lag_comes_from_tablesync_max_lag() -> None:
    assert console_settings("127.0.0.1", 1, environ={"TABLESYNC_MAX_LAG": "2h"}).max_lag_s == 7200
    assert console_settings("127.0.0.1", 1, environ={}).max_lag_s == 3600
    with pytest.raises(ConfigurationError, match="TABLESYNC_MAX_LAG"):
        console_settings("127.0.0.1", 1, environ={"TABLESYNC_MAX_LAG": "soon"})


def test_serve_reads_the_run_time_variables_once_at_start_every_bad_one_a_line() -> None:
    """The runs it starts get TABLESYNC_STOP_TIMEOUT_S to stop, and its pages read failed
    rows from TABLESYNC_FAILURES_DIR: both read with its own variables, before it listens."""
    environ = {"TABLESYNC_STOP_TIMEOUT_S": "3", "TABLESYNC_FAILURES_DIR": "/srv/failed"}
    environ["TABLESYNC_ROOT_PATH"] = "/sync/"
    settings = console_settings("127.0.0.1", 1, environ=environ)
    assert settings.run.stop_timeout_s == 3 and settings.run.failures_dir == Path("/srv/failed")
    assert settings.root_path == "/sync"
    bad = {"TABLESYNC_MAX_LAG": "soon", "TABLESYNC_STOP_TIMEOUT_S": "0"}
    with pytest.raises(ConfigurationError) as refused:
        console_settings("127.0.0.1", 1, environ=bad)
    assert [line.split()[0].rstrip(":") for line in refused.value.problems] == [
        "TABLESYNC_STOP_TIMEOUT_S",
        "TABLESYNC_MAX_LAG",
    ]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("127.3.2.1", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.org", False),
    ],
)
def test_only_loopback_addresses_go_without_a_token(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    if not loopback:
        with pytest.raises(ConfigurationError, match="set TABLESYNC_API_TOKEN"):
            console_settings(host, 1, environ={})
        assert console_settings(host, 1, environ={"TABLESYNC_API_TOKEN": TOKEN}).token == TOKEN


def test_an_expired_session_is_no_session() -> None:
    now = [1_000_000.0]
    auth = Auth(TOKEN, clock=lambda: now[0])
    cookie = auth.cookie_value(auth.new_session(signed_in=True))
    assert auth.session_from(cookie) is not None
    now[0] += SESSION_MAX_AGE_S + 1
    assert auth.session_from(cookie) is None


def test_a_new_token_ends_every_session() -> None:
    old = Auth(TOKEN)
    cookie = old.cookie_value(old.new_session(signed_in=True))
    assert Auth(TOKEN + "-rotated").session_from(cookie) is None


def test_csrf_tokens_belong_to_their_session() -> None:
    auth = Auth(TOKEN)
    mine, theirs = auth.new_session(signed_in=True), auth.new_session(signed_in=True)
    decision = auth.decide(Need.WRITE, Caller(None, mine, auth.csrf_token(theirs)))
    assert (decision.allowed, decision.status) == (False, 403)
    assert auth.decide(Need.WRITE, Caller(None, mine, auth.csrf_token(mine))).allowed
    anonymous = auth.new_session(signed_in=False)
    assert auth.decide(Need.READ, Caller(None, anonymous, None)).status == 401


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_is_the_consoles_normal_end_exit_0_without_an_error_line(
    dbs: TestDatabases, tmp_path: Path, signum: signal.Signals
) -> None:
    cli = console_cli(dbs, tmp_path)
    with serving(cli) as console:
        console.process.send_signal(signum)
        assert console.process.wait(timeout=30) == 0
        log = console.log.read_text()
    assert not [line for line in log.splitlines() if line.startswith("error:")], log
    assert "Traceback" not in log and f"console stopped by {signum.name}" in log


def test_make_console_honours_tablesync_api_token_and_console_port() -> None:
    from tools.demo.console import console_port, console_token

    assert console_token({"TABLESYNC_API_TOKEN": TOKEN}) == (
        TOKEN,
        "sign in with your TABLESYNC_API_TOKEN",  # the user's own token is never printed
    )
    fresh, sign_in = console_token({})
    assert len(fresh) >= 24 and sign_in == f"sign in with the token {fresh}"
    assert console_port({"CONSOLE_PORT": "9123"}) == "9123"
    assert console_port({}) == "8080"
    with pytest.raises(SystemExit, match="CONSOLE_PORT='80x' is not a TCP port"):
        console_port({"CONSOLE_PORT": "80x"})
