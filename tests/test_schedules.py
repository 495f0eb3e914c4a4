"""Rule 20's schedules: ``serve`` runs a definition that has a ``schedule`` when it is due,
once per due time however many consoles are up, and shows the schedule, the next run
and a late one; a follower shows live in ``--status``, the console and ``/metrics``.

Consoles are the real ``run_job.py serve`` under uvicorn (tests/consolekit.py) on the
definitions of tests/definitions/follow.py.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from consolekit import Cli, serving
from dbtools import TestDatabases, run_cli, wait_for
from faultkit import EVENTS_ANALYTICS, JOB, create_events, fault_env, insert_events
from playwright.sync_api import expect, sync_playwright
from test_console_browser import CHROMIUM, CHROMIUM_FLAGS
from test_follow import no_follower_left, sessions, start_follower, stop

__all__ = ["no_follower_left"]  # the fixture, for this module's tests too

from services.base.definition import build_definition
from services.reporting.live import LATE_AFTER_S, schedule_state


@pytest.fixture
def cli(dbs: TestDatabases, tmp_path: Path) -> Cli:
    create_events(dbs)
    dbs.query_analytics(EVENTS_ANALYTICS.replace("analytics_raw.events", "analytics_raw.events_s"))
    insert_events(dbs, 10)
    return Cli(fault_env(dbs, tmp_path, "follow"), tmp_path)


def claims(dbs: TestDatabases) -> list[tuple[dt.datetime, int | None, str | None]]:
    return [
        (r[0], r[1], r[2])
        for r in dbs.query_analytics(
            "SELECT due_at, run_id, outcome FROM tablesync.schedule_claims"
            " WHERE definition = 'Scheduled' ORDER BY due_at"
        )
    ]


def scheduled_runs(dbs: TestDatabases) -> list[tuple[int, str]]:
    return [
        (r[0], r[1])
        for r in dbs.query_analytics(
            "SELECT id, status FROM tablesync.runs WHERE definition = 'Scheduled'"
            " AND origin = 'schedule' ORDER BY id"
        )
    ]


def test_two_consoles_run_a_schedule_once_per_due_time(dbs: TestDatabases, cli: Cli) -> None:
    with serving(cli, token=None) as first, serving(cli, token=None) as second:
        wait_for("three due times run", lambda: len(claims(dbs)) >= 3, timeout_s=30)
        time.sleep(1.5)  # the second console's next looks at the same due times
        assert first.process.poll() is None and second.process.poll() is None
    found = claims(dbs)
    due_times = [due for due, _, _ in found]
    assert len(due_times) == len(set(due_times))
    # Consecutive due times of "every 3s": multiples of 3 s since the epoch.
    assert all(due.timestamp() % 3 == 0 for due in due_times)
    started = [run_id for _, run_id, outcome in found if outcome == "started" and run_id]
    runs = scheduled_runs(dbs)
    assert sorted(started) == [run_id for run_id, _ in runs]  # one run per due time, no more
    assert len(runs) >= 3
    assert {status for _, status in runs} == {"succeeded"}
    rows = dbs.query_analytics("SELECT count(*) FROM analytics_raw.events_s")[0][0]
    assert rows == 10


def test_a_schedule_skips_a_due_time_whose_lock_a_follower_holds(
    dbs: TestDatabases, cli: Cli
) -> None:
    follower = start_follower(["--every", "0.5s", "Scheduled"], cli.env, cli.workdir)
    try:
        wait_for("the follower", lambda: any(s["cycles"] > 1 for s in sessions(dbs)))
        with serving(cli, token=None):
            wait_for("two due times", lambda: len(claims(dbs)) >= 2, timeout_s=30)
    finally:
        result, _ = stop(follower)
    assert result.code == 0, result.stderr
    assert {outcome for _, _, outcome in claims(dbs)} == {"locked: its lock is held"}
    assert scheduled_runs(dbs) == []


def test_pages_status_and_metrics_show_schedules_and_a_live_follower(
    dbs: TestDatabases, cli: Cli
) -> None:
    follower = start_follower(["--every", "0.3s", "Copied"], cli.env, cli.workdir)
    try:
        wait_for("the follower", lambda: any(s["cycles"] > 1 for s in sessions(dbs)))
        status = run_cli([JOB, "--status"], cli.env, cwd=cli.workdir)
        as_json = run_cli([JOB, "--status", "--json"], cli.env, cwd=cli.workdir)
        with serving(cli, token=None) as console:
            overview = console.request("GET", "/").text
            page = console.request("GET", "/definitions/export-to-pg/Yearly").text
            metrics = console.request("GET", "/metrics").text
            api = console.request("GET", "/api/v1/definitions").json()
    finally:
        result, _ = stop(follower)
    assert result.code == 0, result.stderr
    assert status.code == 0, status.stderr
    assert "following: Copied: every 0.3s, last cycle 0 row(s) in" in status.stdout
    assert "schedule: Yearly: 0 0 1 1 *, next " in status.stdout
    assert "late: due 2026-01-01 00:00:00Z, not started" in status.stdout
    by_name = {d["definition"]: d for d in json.loads(as_json.stdout)}
    assert by_name["Copied"]["state"] == "following"
    assert by_name["Copied"]["follower"]["every_s"] == 0.3
    assert by_name["Scheduled"]["schedule"]["schedule"] == "every 3s"
    assert by_name["Yearly"]["schedule"]["late_since"] == "2026-01-01T00:00:00Z"
    assert '<span class="badge following">following</span> every 0.30s' in overview
    assert 'data-schedule="every 3s"' in overview
    assert "schedule late" in page and "0 0 1 1 *, next run 2027-01-01 00:00:00Z" in page
    assert 'tablesync_following{definition="Copied",job="export-to-pg"} 1.0' in metrics
    assert 'tablesync_follower_cycle_duration_seconds{definition="Copied"' in metrics
    assert 'tablesync_schedule_late{definition="Yearly",job="export-to-pg"} 1.0' in metrics
    assert {d["definition"]: d["state"] for d in api}["Copied"] == "following"


def test_a_due_time_is_late_a_minute_after_it_passed_unclaimed() -> None:
    yearly = build_definition(
        "Y",
        {
            "source": {"table": "t", "cursor": {"field": "at"}},
            "destination": {"table": "t", "conflict_columns": ["id"]},
            "schedule": "every 5m",
        },
    )
    due = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)
    soon = due + dt.timedelta(seconds=LATE_AFTER_S - 1)
    later = due + dt.timedelta(seconds=LATE_AFTER_S + 1)
    assert schedule_state(yearly, None, soon).late_since is None  # type: ignore[union-attr]
    assert schedule_state(yearly, None, later).late_since == due  # type: ignore[union-attr]
    claimed = schedule_state(yearly, due, later)
    assert claimed is not None and claimed.late_since is None
    assert claimed.next_at == due + dt.timedelta(minutes=5)


def test_a_browser_sees_the_following_badge_and_a_late_schedule_at_390_px(
    dbs: TestDatabases, cli: Cli
) -> None:
    follower = start_follower(["--every", "0.3s", "Copied"], cli.env, cli.workdir)
    try:
        wait_for("the follower", lambda: any(s["cycles"] > 1 for s in sessions(dbs)))
        with (
            serving(cli, token=None) as console,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 390, "height": 844})
                page.goto(console.url + "/")
                copied = page.locator('tr[data-definition="Copied"]')
                expect(copied).to_have_attribute("data-state", "following")
                badge = copied.locator(".badge.following")
                expect(badge).to_be_visible()
                expect(copied.locator(".live.following")).to_contain_text("last cycle")
                yearly = page.locator('tr[data-definition="Yearly"]')
                expect(yearly.locator(".schedule-late")).to_be_visible()
                page.goto(console.url + "/definitions/export-to-pg/Scheduled")
                expect(page.locator("#schedule")).to_contain_text("every 3s, next run")
            finally:
                browser.close()
    finally:
        result, _ = stop(follower)
    assert result.code == 0, result.stderr
