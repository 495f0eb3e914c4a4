"""The console in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium).

Signs in, reads the overview of the demo's definitions, presses "Run now" and watches
the live progress reach the end, opens a failed run and its failing row, and checks
that markup in a definition's name and in a transform's error shows as text.

No browser is ever downloaded: without /usr/bin/chromium these tests FAIL (install it
with ``apt-get install chromium``); they never skip. The screenshots they take go to
docs/screenshots/ when UPDATE_SCREENSHOTS=1 (``make screenshots``), else to tmp.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from consolekit import TOKEN, XSS_NAME, Console, console_cli, serving
from dbtools import REPO_ROOT, PgServer, TestDatabases, unique_db_name
from faultkit import insert_events
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from tools.console_demo import load_demo

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
SLOW_ROWS = 40


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium"
            " (apt-get update && apt-get install -y chromium); they never download one"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def demo(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The demo's data (`make console`), plus the test definitions, under a console."""
    workdir = tmp_path_factory.mktemp("browser")
    names = unique_db_name("demo_core"), unique_db_name("demo_analytics")
    try:
        env = load_demo(pg_server, cwd=workdir, names=names)
        dbs = TestDatabases(env["DATABASE_URL_CORE"], env["DATABASE_URL_ANALYTICS"], pg_server)
        cli = console_cli(dbs, workdir)
        cli.env["TABLESYNC_FAILURES_DIR"] = env["TABLESYNC_FAILURES_DIR"]
        insert_events(dbs, SLOW_ROWS)
        dbs.query_core("INSERT INTO bad_events (payload) VALUES ('fine'), ('boom')")
        assert cli.sync(XSS_NAME).code == 1
        # Batches of 5 in cursor order, so progress moves batch by batch (a backfill
        # of these 40 rows would be one chunk).
        slow = {"TEST_ROW_DELAY_S": "0.06", "TEST_BATCH_SIZE": "5", "TABLESYNC_BACKFILL": "off"}
        with serving(cli, token=TOKEN, extra_env=slow) as console:
            yield console
        dbs.close()
    finally:
        for name in names:
            pg_server.drop_database(name)


@pytest.fixture
def page(browser: Browser, demo: Console) -> Iterator[Page]:
    context = browser.new_context(base_url=demo.url, viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    try:
        yield opened
    finally:
        context.close()
    assert dialogs == [], f"a page ran script from data: {dialogs}"


def signed_in(page: Page) -> Page:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin\?next=/$"))
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Definitions")
    return page


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / name)


def test_sign_in_and_see_every_demo_definition(page: Page, tmp_path: Path) -> None:
    signed_in(page)
    for name in ("StatEvent", "ImportJob", "Events"):
        expect(page.locator(f'tr[data-definition="{name}"]')).to_be_visible()
    stat_event = page.locator('tr[data-definition="StatEvent"]')
    expect(stat_event.locator(".badge.failed")).to_have_text("failed")
    expect(page.locator('tr[data-definition="ImportJob"] .badge.succeeded')).to_be_visible()
    expect(stat_event.locator("svg.chart rect.bar")).to_have_count(3)
    screenshot(page, "overview.png", tmp_path)


def test_run_now_shows_live_progress_until_the_end(page: Page, tmp_path: Path) -> None:
    signed_in(page)
    page.locator('tr[data-definition="Events"] button.run').click()
    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    status = page.locator("#run-status")
    expect(status).to_have_text("running")
    seen = set()
    # The page is never reloaded: the counts change under it as batches commit.
    with page.expect_request(re.compile(r"/api/v1/runs/\d+$")):
        pass
    while status.inner_text() == "running":
        seen.add(page.locator("#rows_read").inner_text())
        page.wait_for_timeout(200)
    expect(status).to_have_text("succeeded")
    expect(page.locator("#rows_read")).to_have_text(f"{SLOW_ROWS}")
    assert len(seen) >= 2, f"progress never moved while running: {seen}"
    expect(page.locator("#run-progress")).to_contain_text(f"{SLOW_ROWS} rows")
    screenshot(page, "run.png", tmp_path)


def test_a_failed_run_shows_its_failing_row(page: Page, tmp_path: Path) -> None:
    signed_in(page)
    page.click('tr[data-definition="StatEvent"] td a >> nth=0')
    expect(page.locator("h1")).to_contain_text("StatEvent")
    failure = page.locator("section.failures article").first
    expect(failure.locator("pre.error")).to_contain_text(
        "value too long for type character varying(64)"
    )
    expect(failure.locator("pre.row")).to_contain_text("demo-too-long")
    expect(failure).to_contain_text("python run_job.py export-to-pg StatEvent")
    screenshot(page, "definition-failed.png", tmp_path)
    failure.locator("h3 a").click()
    expect(page.locator("#run-status")).to_have_text("failed")
    expect(page.locator("#failed-row")).to_contain_text("a very long source name")


def test_markup_in_a_name_and_in_an_error_is_shown_as_text(page: Page) -> None:
    signed_in(page)
    link = page.get_by_role("link", name=XSS_NAME)
    expect(link).to_be_visible()
    assert page.locator("script").count() == 1  # console.js alone
    row = page.locator("tr", has=link)
    row.locator(".badge.failed").click()
    expect(page.locator("#run-error")).to_contain_text("<script>alert('error')</script>")
    expect(page.locator("h1")).to_contain_text(XSS_NAME)
    assert page.locator("script").count() == 1
