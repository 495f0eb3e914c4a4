"""Contract rule 18, never silent: a run refused by its pre-flight check is a run (a
``failed`` record, Slack, the metrics), and a definition whose last run failed or was
refused, or that its pre-flight check refuses now, is failing everywhere: ``--status``
(text and JSON), ``--max-lag``, never fresh.

The break is the one that happens by accident: a destination column dropped by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from consolekit import TOKEN, Console, console_cli, serving, sign_in, wait_for_run
from dbtools import TestDatabases
from opstools import RunCli
from prometheus_client.parser import text_string_to_metric_families
from slack_server import SlackServer, serve_slack

from services.reporting.verdicts import Verdict, Verdicts
from services.store.runs import REFUSED_NOTE
from tools.testdb.seed_core import seed

JOB = "export-to-pg"
STATUS = [JOB, "--status"]
DROPPED = 'ALTER TABLE analytics_raw.import_job DROP COLUMN "errorText"'
RESTORED = 'ALTER TABLE analytics_raw.import_job ADD COLUMN "errorText" text'


@pytest.fixture
def synced(dbs: TestDatabases, env: dict[str, str], run_cli: RunCli) -> TestDatabases:
    """ImportJob exported once, successfully."""
    seed(dbs.core_url, stat_events=20, import_jobs=20)
    code, out, err = run_cli([JOB, "ImportJob"], env=env)
    assert code == 0, out + err
    return dbs


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with serve_slack() as server:
        yield server


def import_job_status(run_cli: RunCli, env: dict[str, str], *args: str) -> dict[str, Any]:
    code, out, err = run_cli([*STATUS, "--json", "ImportJob", *args], env=env)
    assert code in (0, 1), err
    (row,) = orjson.loads(out)
    assert isinstance(row, dict)
    return row


def records(dbs: TestDatabases) -> list[tuple[Any, ...]]:
    return dbs.query_analytics(
        "SELECT status, error_text, note, cursor_before = cursor_after, rows_read, origin"
        " FROM tablesync.runs WHERE definition = 'ImportJob' ORDER BY id"
    )


# -- a refused run is a run ----------------------------------------------------------------


def test_a_refused_run_leaves_a_failed_record_tells_slack_and_exits_2(
    synced: TestDatabases, env: dict[str, str], run_cli: RunCli, slack: SlackServer
) -> None:
    synced.query_analytics(DROPPED)
    position = synced.query_analytics("SELECT cursor_value, cursor_id FROM tablesync.positions")

    code, out, err = run_cli(
        [JOB, "ImportJob"], env={**env, "SLACK_WEBHOOK_URL": slack.webhook_url}
    )

    assert code == 2
    message = "ImportJob: analytics table analytics_raw.import_job lacks source column 'errorText'"
    assert err.count(f"error: {message}") == 1
    assert "ImportJob: failed" in out  # the summary line of every run, refused ones too
    first, refused = records(synced)
    assert first[0] == "succeeded"
    assert refused[0] == "failed" and refused[1].startswith(message)
    assert refused[2:] == (REFUSED_NOTE, True, 0, "cli")
    assert synced.query_analytics("SELECT cursor_value, cursor_id FROM tablesync.positions") == (
        position
    )
    assert len(slack.requests) == 1
    posted = slack.requests[0].json()
    assert "ImportJob failed (refused before writing)" in posted["text"] + str(posted["blocks"])
    assert "lacks source column" in str(posted["blocks"])
    assert "Failed batch" not in str(posted["blocks"])  # nothing was read: no batch to name


def test_an_unknown_definition_is_a_usage_error_and_leaves_no_record(
    synced: TestDatabases, env: dict[str, str], run_cli: RunCli
) -> None:
    code, _, err = run_cli([JOB, "Nope"], env=env)
    assert code == 2 and "unknown definition 'Nope'" in err
    code, _, _ = run_cli([JOB, "--no-such-option"], env=env)
    assert code == 2
    assert synced.query_analytics("SELECT count(*) FROM tablesync.runs") == [(1,)]


# -- failing is failing everywhere ---------------------------------------------------------


def test_a_dropped_destination_column_is_failing_in_status_before_the_next_run(
    synced: TestDatabases, env: dict[str, str], run_cli: RunCli
) -> None:
    assert import_job_status(run_cli, env)["state"] == "ok"
    synced.query_analytics(DROPPED)

    row = import_job_status(run_cli, env)

    assert row["last_run"]["status"] == "succeeded"  # no run since: the check itself saw it
    assert (row["state"], row["failing"]) == ("failing", True)
    assert row["failing_reason"].startswith(
        "refused before writing: analytics table analytics_raw.import_job lacks source column"
        " 'errorText'"
    )
    code, out, _ = run_cli([*STATUS, "ImportJob"], env=env)
    assert code == 0
    assert out.splitlines()[1].split()[:2] == ["ImportJob", "failing"]
    assert "failing: ImportJob: refused before writing: analytics table" in out


def test_failing_is_never_fresh_and_max_lag_exits_1(
    synced: TestDatabases, env: dict[str, str], run_cli: RunCli, slack: SlackServer
) -> None:
    synced.query_analytics(DROPPED)
    assert run_cli([JOB, "ImportJob"], env=env)[0] == 2
    synced.query_analytics(RESTORED)  # fixed, but the last run still failed

    code, out, err = run_cli(
        [*STATUS, "--json", "ImportJob", "--max-lag", "100d"],
        env={**env, "SLACK_WEBHOOK_URL": slack.webhook_url},
    )

    assert code == 1
    (row,) = orjson.loads(out)
    assert (row["state"], row["stale"], row["refusal"]) == ("failing", True, None)
    assert row["failing_reason"].startswith("its last run failed: analytics table")
    assert "error: ImportJob: failing: its last run failed: analytics table" in err
    assert "1 definition(s) failing" in slack.requests[0].json()["text"]
    # The next run succeeds: no longer failing, and fresh again.
    assert run_cli([JOB, "ImportJob"], env=env)[0] == 0
    row = import_job_status(run_cli, env, "--max-lag", "100d")
    assert (row["state"], row["failing"], row["stale"]) == ("ok", False, False)


def test_an_abandoned_last_run_is_failing_a_cancelled_one_is_not(
    synced: TestDatabases, env: dict[str, str], run_cli: RunCli
) -> None:
    for status, state in (("abandoned", "failing"), ("cancelled", "ok")):
        synced.query_analytics(
            "INSERT INTO tablesync.runs (job, definition, status, finished_at, error_text)"
            " VALUES (%s, 'ImportJob', %s, now(), 'ImportJob: it ended')",
            (JOB, status),
        )
        assert import_job_status(run_cli, env)["state"] == state, status


# -- the console: the same, over HTTP --------------------------------------------------------


def _by_name(console: Console) -> dict[str, dict[str, Any]]:
    found = console.request("GET", "/api/v1/definitions", token=TOKEN).json()
    return {row["definition"]: row for row in found}


def _failing_metric(console: Console) -> dict[str, float]:
    text = console.request("GET", "/metrics").text
    return {
        sample.labels["definition"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tablesync_definition_failing"
    }


def _overview_row(console: Console, name: str) -> str:
    console.cookies.clear()
    sign_in(console)
    page = console.request("GET", "/").text
    start = page.index(f'data-definition="{name}"')
    return page[start : page.index("</tr>", start)]


def test_the_console_shows_a_dropped_column_as_failing_and_refuses_its_run_with_422(
    dbs: TestDatabases, tmp_path: Path
) -> None:
    cli = console_cli(dbs, tmp_path)
    assert cli.sync("ImportJob").code == 0
    with serving(cli) as console:
        assert _by_name(console)["ImportJob"]["state"] == "ok"
        assert _failing_metric(console)["ImportJob"] == 0
        dbs.query_analytics(DROPPED)

        row = _by_name(console)["ImportJob"]
        overview = _overview_row(console, "ImportJob")
        reply = console.request(
            "POST", "/api/v1/runs", body=json.dumps({"job": JOB, "definitions": ["ImportJob"]}),
            token=TOKEN,
        )  # fmt: skip
        # /metrics reuses its last verdict for a while; the refused run's record counts now.
        metric = _failing_metric(console)

    assert (row["state"], row["failing"], row["stale"]) == ("failing", True, True)
    assert "lacks source column 'errorText'" in row["failing_reason"]
    assert metric["ImportJob"] == 1 and metric["Events"] == 0
    assert 'data-state="failing"' in overview and "lacks source column" in overview
    assert "on time" not in overview
    assert reply.status == 422, reply.text
    body = reply.json()
    assert body["error"].startswith("refused before writing: ImportJob: analytics table")
    (refused,) = body["runs"]
    assert refused["status"] == "refused" and refused["id"] is not None
    record = dbs.query_analytics(
        "SELECT status, origin, note FROM tablesync.runs WHERE id = %s", (refused["id"],)
    )
    assert record == [("failed", "console", REFUSED_NOTE)]


def test_all_with_a_broken_definition_starts_the_others_and_names_the_refused_one(
    dbs: TestDatabases, tmp_path: Path
) -> None:
    cli = console_cli(dbs, tmp_path)
    dbs.query_analytics(DROPPED)
    with serving(cli) as console:
        reply = console.request(
            "POST", "/api/v1/runs", body=json.dumps({"job": JOB, "all": True}), token=TOKEN
        )
        body = reply.json()
        for run in body["runs"]:
            if run["status"] == "started":
                wait_for_run(dbs, run["id"])

    assert reply.status == 202, reply.text
    assert body["refused"] == ["ImportJob"]
    outcomes = {run["definition"]: run["status"] for run in body["runs"]}
    assert outcomes.pop("ImportJob") == "refused"
    assert set(outcomes.values()) == {"started"}
    (refused,) = [run for run in body["runs"] if run["definition"] == "ImportJob"]
    assert "lacks source column 'errorText'" in refused["error"]


def test_a_verdict_is_reused_only_while_fresh() -> None:
    kept = Verdicts(ttl_s=3600)
    assert kept.fresh(JOB, "ImportJob") is None
    kept.keep(JOB, "ImportJob", "analytics table lacks a column")
    assert kept.fresh(JOB, "ImportJob") == Verdict("analytics table lacks a column")
    assert kept.fresh(JOB, "StatEvent") is None
    expired = Verdicts(ttl_s=0)
    expired.keep(JOB, "ImportJob", None)
    assert expired.fresh(JOB, "ImportJob") is None
