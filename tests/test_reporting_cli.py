"""Reporting through the real command line: Slack, ``--json`` and ``LOG_FORMAT=json``.

The real slack-sdk client in the CLI posts to a local Slack stand-in: a failure posts one
message naming the definition and the error, with no password anywhere it writes; a
success posts only with SLACK_NOTIFY=all; a Slack that answers 500 or is down leaves the
exit code as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from dbtools import CliResult, TestDatabases, run_cli
from faultkit import JOB, insert_events
from runtools import PASSWORD, counts, runs, secret_env
from slack_server import SlackServer, free_port, serve_slack

from services.reporting.report import utc_times

# First loads here read in cursor order, batch by batch: this module tests batches.
pytestmark = pytest.mark.usefixtures("cursor_order_first_loads")

ROWS = 25


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with serve_slack() as server:
        yield server


@pytest.fixture
def env(
    dbs: TestDatabases, tmp_path: Path, password_role: str, slack: SlackServer
) -> dict[str, str]:
    env = secret_env(dbs, tmp_path, password_role)
    env["SLACK_WEBHOOK_URL"] = slack.webhook_url
    insert_events(dbs, ROWS)
    return env


def make_it_fail(dbs: TestDatabases) -> None:
    """Event 15 makes the transform raise: the second batch fails at run time."""
    dbs.query_core("UPDATE events SET payload = 'boom' WHERE id = 15")


def written_by_the_run(
    outcome: CliResult, slack: SlackServer, dbs: TestDatabases, workdir: Path
) -> str:
    """Everything the run wrote anywhere: output, Slack bodies, run records, failure files."""
    files = [p.read_text() for p in sorted((workdir / "failures").rglob("*")) if p.is_file()]
    return "\n".join(
        [
            outcome.stdout,
            outcome.stderr,
            *(r.body for r in slack.requests),
            repr(runs(dbs)),
            *files,
        ]
    )


# --- failures -----------------------------------------------------------------------------


def test_a_failure_posts_one_message_naming_definition_and_error_without_the_password(
    dbs: TestDatabases, env: dict[str, str], slack: SlackServer, tmp_path: Path
) -> None:
    make_it_fail(dbs)

    outcome = run_cli([JOB, "Events"], env, cwd=tmp_path)

    assert outcome.code == 1
    assert len(slack.requests) == 1
    payload = slack.requests[0].json()
    assert payload["text"].startswith("tablesync export-to-pg Events failed: ")
    assert "payload says boom" in payload["text"]
    blocks = orjson.dumps(payload["blocks"]).decode()
    assert "payload says boom" in blocks and "python run_job.py export-to-pg Events" in blocks
    # The error echoed the core URL: it arrives masked, never with its password.
    assert ":***@" in payload["text"]
    everything = written_by_the_run(outcome, slack, dbs, tmp_path)
    assert list((tmp_path / "failures").rglob("*.json")), "the failed row was saved"
    assert "payload says boom" in everything
    assert PASSWORD not in everything


def test_a_failure_exits_1_whether_slack_answers_500_or_is_down(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path, slack: SlackServer
) -> None:
    make_it_fail(dbs)
    slack.mode = "500"

    broken = run_cli([JOB, "Events"], env, cwd=tmp_path)
    down = run_cli(
        [JOB, "Events"],
        {**env, "SLACK_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/x"},
        cwd=tmp_path,
    )

    assert (broken.code, down.code) == (1, 1)
    assert len(slack.requests) == 3  # the first try and slack-sdk's 2 retries
    for outcome in (broken, down):
        assert "Slack notification for the failed run of Events not sent" in outcome.stderr
        assert [line for line in outcome.stderr.splitlines() if line.startswith("error:")]


# --- successes ----------------------------------------------------------------------------


def test_a_success_posts_nothing_by_default(
    env: dict[str, str], tmp_path: Path, slack: SlackServer
) -> None:
    outcome = run_cli([JOB, "Events"], env, cwd=tmp_path)

    assert outcome.code == 0
    assert slack.requests == []
    assert outcome.stdout.startswith(f"Events: succeeded — read {ROWS}, created {ROWS}, ")


def test_a_success_posts_once_with_slack_notify_all(
    env: dict[str, str], tmp_path: Path, slack: SlackServer
) -> None:
    outcome = run_cli([JOB, "Events"], {**env, "SLACK_NOTIFY": "all"}, cwd=tmp_path)

    assert outcome.code == 0
    assert len(slack.requests) == 1
    assert slack.requests[0].json()["text"] == "tablesync export-to-pg Events succeeded"


def test_a_success_exits_0_whether_slack_answers_500_or_is_down(
    env: dict[str, str], tmp_path: Path, slack: SlackServer
) -> None:
    slack.mode = "500"

    broken = run_cli([JOB, "Events"], {**env, "SLACK_NOTIFY": "all"}, cwd=tmp_path)
    down = run_cli(
        [JOB, "Events"],
        {
            **env,
            **{"SLACK_NOTIFY": "all", "SLACK_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/x"},
        },
        cwd=tmp_path,
    )

    assert (broken.code, down.code) == (0, 0)
    assert len(slack.requests) == 3
    assert "not sent" in broken.stderr and "not sent" in down.stderr


# --- --json -------------------------------------------------------------------------------


def json_results(outcome: CliResult) -> list[dict[str, Any]]:
    parsed: list[dict[str, Any]] = orjson.loads(outcome.stdout)
    return parsed


def as_counts(result: dict[str, Any]) -> tuple[int, ...]:
    c = result["counts"]
    return (c["read"], c["created"], c["updated"], c["skipped"], c["errors"])


def test_json_output_matches_the_run_records(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    make_it_fail(dbs)
    failed = run_cli([JOB, "Events", "--json"], env, cwd=tmp_path)
    dbs.query_core("UPDATE events SET payload = 'fixed' WHERE id = 15")
    succeeded = run_cli([JOB, "Events", "--json"], env, cwd=tmp_path)

    assert (failed.code, succeeded.code) == (1, 0)
    (failure,), (success,) = json_results(failed), json_results(succeeded)
    first, second = runs(dbs)
    assert (failure["run_id"], failure["status"]) == (first["id"], "failed")
    assert as_counts(failure) == counts(first) == (11, 10, 0, 0, 1)
    # The record keeps PostgreSQL's text of the cursor; JSON says it in RFC 3339 UTC.
    assert failure["position_after"] == utc_times(first["cursor_after"])
    assert failure["error"] == first["error_text"]
    assert (success["run_id"], success["status"]) == (second["id"], "succeeded")
    assert as_counts(success) == counts(second) == (15, 15, 0, 0, 0)
    assert success["position_before"] == utc_times(second["cursor_before"])
    assert success["position_after"] == utc_times(second["cursor_after"])
    assert (success["host"], success["pid"]) == (second["host"], second["pid"])


# --- LOG_FORMAT=json ----------------------------------------------------------------------


def json_log_lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line but the ``error:`` ones, each parsed as one JSON object."""
    records = []
    for line in stderr.splitlines():
        if line.startswith("error:"):
            continue
        record = orjson.loads(line)
        assert isinstance(record, dict) and {"ts", "level", "logger", "message"} <= set(record)
        records.append(record)
    return records


def test_json_logs_are_one_object_per_line(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path, slack: SlackServer
) -> None:
    slack.mode = "500"  # a warning to log
    ok = run_cli(
        [JOB, "Events"], {**env, "LOG_FORMAT": "json", "SLACK_NOTIFY": "all"}, cwd=tmp_path
    )
    insert_events(dbs, 1)
    dbs.query_core("UPDATE events SET payload = 'boom' WHERE id = %s", (ROWS + 1,))
    failed = run_cli([JOB, "Events"], {**env, "LOG_FORMAT": "json"}, cwd=tmp_path)

    assert (ok.code, failed.code) == (0, 1)
    ok_logs, failed_logs = json_log_lines(ok.stderr), json_log_lines(failed.stderr)
    assert not [line for line in ok.stderr.splitlines() if line.startswith("error:")]
    assert any(r["level"] == "WARNING" and "not sent" in r["message"] for r in ok_logs)
    assert any(r["level"] == "WARNING" for r in failed_logs)
    assert PASSWORD not in ok.stderr + failed.stderr
