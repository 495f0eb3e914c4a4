"""The console in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium).

Signs in, reads the overview of the demo's definitions, presses "Run now" and watches
the live progress reach the end, opens a failed run and its failing row, and checks
that markup in a definition's name and in a transform's error shows as text.

No browser is ever downloaded: without /usr/bin/chromium these tests FAIL (install it
with ``apt-get install chromium``); they never skip. The screenshots they take are
kept as test artifacts in .tablesync/browser-screenshots/ (the README's come from the
demo's data instead: ``make screenshots``, tools/demo/screenshots.py).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from consolekit import TOKEN, XSS_NAME, Console, console_cli, serving
from dbtools import REPO_ROOT, PgServer, TestDatabases, start_cli, unique_db_name
from faultkit import insert_events
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from tools.demo.console import load_demo

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
ARTIFACTS = REPO_ROOT / ".tablesync" / "browser-screenshots"
SLOW_ROWS = 40
WIDTHS = (390, 1440)
# "250/1,000 rows (25%" or "250/~1,000 rows (25%" on a run page.
SHARE = re.compile(r"^([\d,]+)/~?([\d,]+) rows \((\d+)%")


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
    assert path.stat().st_size > 5_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, ARTIFACTS / name)


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


def demo_dbs(demo: Console, pg_server: PgServer) -> TestDatabases:
    env = demo.cli.env
    return TestDatabases(env["DATABASE_URL_CORE"], env["DATABASE_URL_ANALYTICS"], pg_server)


def no_horizontal_scroll(page: Page, what: str) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{what}: the page is {width} px wide in a {inner} px window"


def test_every_page_fits_390_and_1440_px(page: Page, demo: Console, tmp_path: Path) -> None:
    signed_in(page)
    failed_run = page.locator('tr[data-definition="StatEvent"] td a').nth(1).get_attribute("href")
    pages = {
        "overview": "/",
        "definition-failed": "/definitions/export-to-pg/StatEvent",
        "definition-events": "/definitions/export-to-pg/Events",
        "run-failed": failed_run or "/",
        "health": "/health",
    }
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages.items():
            page.goto(path)
            expect(page.locator("header.top nav")).to_be_visible()
            no_horizontal_scroll(page, f"{path} at {width} px")
            # The header is whole: its links and the sign-out button inside the window.
            box = page.locator("header.top .who").bounding_box()
            assert box is not None and box["x"] + box["width"] <= width
            screenshot(page, f"{name}-{width}.png", tmp_path)


def test_a_failed_definition_is_failing_and_never_on_time(page: Page) -> None:
    signed_in(page)
    row = page.locator('tr[data-definition="StatEvent"]')
    expect(row.locator(".badge.failing")).to_have_text("failing")
    expect(row.locator(".badge.ok")).to_have_count(0)
    expect(row).not_to_contain_text("on time")
    expect(page.locator("p.summary")).to_contain_text(re.compile(r"[1-9]\d* failing"))
    row.locator("td a").first.click()
    expect(page.locator("#freshness .badge.failing")).to_be_visible()
    expect(page.locator("#freshness")).not_to_contain_text("on time")


def test_a_chart_marks_the_failed_run(page: Page) -> None:
    signed_in(page)
    spark = page.locator('tr[data-definition="StatEvent"] svg.chart')
    expect(spark.locator("circle.marker.failed")).to_have_count(1)
    page.goto("/definitions/export-to-pg/StatEvent")
    rows = page.locator("figure").first
    expect(rows.locator("circle.marker.failed")).to_have_count(1)
    expect(rows.locator("ul.legend")).to_contain_text("failed")
    # An axis with values: 0 and the top, with the unit's words.
    ticks = [t.strip() for t in rows.locator("text.tick").all_text_contents()]
    assert "0" in ticks and len(ticks) >= 3, ticks
    expect(page.locator("svg.chart polyline")).to_have_count(0)  # no unlabelled line


def test_a_definition_never_run_says_so_instead_of_an_empty_chart(page: Page) -> None:
    signed_in(page)
    row = page.locator('tr[data-definition="EventsCopy"]')
    if row.locator(".badge").first.inner_text() == "never run":
        return  # another test ran it first; the definition page still says it below
    expect(row.locator(".chart-empty")).to_have_text("no runs yet")


def _watch_progress(page: Page, dbs: TestDatabases, name: str) -> list[tuple[str, str, str]]:
    """(progress text, ETA, meter value) of ``name``'s running run, sampled on its page
    until it ends; the page is opened once and never reloaded."""
    deadline = time.monotonic() + 60
    run_id = None
    while run_id is None and time.monotonic() < deadline:
        found = dbs.query_analytics(
            "SELECT id FROM tablesync.runs WHERE definition = %s AND status = 'running'", (name,)
        )
        run_id = found[0][0] if found else None
        time.sleep(0.05)
    assert run_id is not None, f"{name} never started"
    page.goto(f"/runs/{run_id}")
    samples = []
    while page.locator("#run-status").inner_text() == "running":
        meter = page.locator("#run-meter").get_attribute("value") or ""
        text = page.locator("#run-progress").inner_text()
        samples.append((text, page.locator("#run-eta").inner_text(), meter))
        page.wait_for_timeout(150)
    return samples


def _check_truthful(samples: list[tuple[str, str, str]], final_rows: int) -> int:
    """Every sample: never above 100 %, a total never below what the run read in the end
    (or "at least"), never an ETA of 0 with rows left. Returns how many showed a share."""
    shares = 0
    for text, eta, meter in samples:
        assert not meter or 0 <= int(meter) <= 100, (text, meter)
        if (found := SHARE.match(text)) is None:
            continue
        shares += 1
        done, total, percent = (int(g.replace(",", "")) for g in found.groups())
        assert percent <= 100 and done <= total, text
        if "/~" not in text:  # a counted total is the truth, not an estimate
            assert total >= final_rows, (text, final_rows)
        if done < total:
            assert eta != "0s", (text, eta)
    return shares


def test_a_running_backfill_shows_a_bar_from_its_chunks(
    page: Page, demo: Console, pg_server: PgServer
) -> None:
    dbs = demo_dbs(demo, pg_server)
    insert_events(dbs, 4_000, tag="bf")
    slow = {"TABLESYNC_BACKFILL_CHUNK_PAGES": "2", "TABLESYNC_TEST_DELAY": "chunk:0.25"}
    signed_in(page)
    process = start_cli(["export-to-pg", "--reset", "--yes", "EventsCopy"], demo.cli.env)
    assert process.wait(timeout=120) == 0
    process = start_cli(["export-to-pg", "EventsCopy"], {**demo.cli.env, **slow})
    try:
        samples = _watch_progress(page, dbs, "EventsCopy")
    finally:
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    final = int(dbs.query_analytics("SELECT count(*) FROM analytics_raw.events_copy")[0][0])
    assert _check_truthful(samples, final) >= 2, samples
    assert any("chunks" in text for text, _, _ in samples), samples


def test_a_running_incremental_run_with_stale_statistics_stays_truthful(
    page: Page, demo: Console, pg_server: PgServer
) -> None:
    dbs = demo_dbs(demo, pg_server)
    assert demo.cli.sync("EventsSlow").code == 0  # a position: the next run is incremental
    dbs.query_core("ANALYZE events")
    insert_events(dbs, 3_000, tag="stale")  # many more rows than the statistics know
    slow = {"TEST_ROW_DELAY_S": "0.0015", "TEST_BATCH_SIZE": "200"}
    signed_in(page)
    process = start_cli(["export-to-pg", "EventsSlow"], {**demo.cli.env, **slow})
    try:
        samples = _watch_progress(page, dbs, "EventsSlow")
    finally:
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    ((final,),) = dbs.query_analytics(
        "SELECT rows_read FROM tablesync.runs WHERE definition = 'EventsSlow' ORDER BY id DESC"
        " LIMIT 1"
    )
    assert _check_truthful(samples, int(final)) >= 2, samples


def test_the_overview_refreshes_its_rows_in_place(
    page: Page, demo: Console, pg_server: PgServer
) -> None:
    signed_in(page)
    page.evaluate("window.notReloaded = true")
    row = page.locator('tr[data-definition="EventsCopy"]')
    last_run = row.locator("td").nth(1)  # its link names the run ("never run" before any)
    before = last_run.inner_html()
    dbs = demo_dbs(demo, pg_server)
    insert_events(dbs, 5, tag="refresh")
    assert demo.cli.sync("EventsCopy").code == 0
    deadline = time.monotonic() + 15
    while last_run.inner_html() == before and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert last_run.inner_html() != before, "the overview never showed the new run"
    assert page.evaluate("window.notReloaded === true"), "the overview reloaded the page"


def test_a_run_that_fails_while_watched_shows_its_row_without_a_reload(
    page: Page, demo: Console, pg_server: PgServer
) -> None:
    dbs = demo_dbs(demo, pg_server)
    dbs.query_core("INSERT INTO slow_fail (payload) SELECT 'ok' || g FROM generate_series(1, 30) g")
    dbs.query_core("INSERT INTO slow_fail (payload) VALUES ('boom')")
    slow = {"TEST_ROW_DELAY_S": "0.1", "TEST_BATCH_SIZE": "5"}
    signed_in(page)
    process = start_cli(["export-to-pg", "SlowFail"], {**demo.cli.env, **slow})
    try:
        deadline, run_id = time.monotonic() + 60, None
        while run_id is None and time.monotonic() < deadline:
            found = dbs.query_analytics(
                "SELECT id FROM tablesync.runs WHERE definition = 'SlowFail' AND status = 'running'"
            )
            run_id = found[0][0] if found else None
        assert run_id is not None
        page.goto(f"/runs/{run_id}")
        page.evaluate("window.notReloaded = true")
        expect(page.locator("#run-status")).to_have_text("running")
        expect(page.locator("#run-status")).to_have_text("failed", timeout=60_000)
    finally:
        process.communicate(timeout=120)
    expect(page.locator("#failed-row")).to_contain_text("boom")
    expect(page.locator("section.failures code.rerun")).to_contain_text("export-to-pg SlowFail")
    assert page.evaluate("window.notReloaded === true"), "the run page reloaded"


def test_a_dropped_destination_column_is_failing_everywhere_within_one_refresh(
    page: Page, demo: Console, pg_server: PgServer
) -> None:
    dbs = demo_dbs(demo, pg_server)
    assert demo.cli.sync("Droppable").code == 0
    signed_in(page)
    page.evaluate("window.notReloaded = true")
    row = page.locator('tr[data-definition="Droppable"]')
    expect(row.locator(".badge.ok")).to_have_text("on time")
    dbs.query_analytics("ALTER TABLE analytics_raw.droppable DROP COLUMN payload")
    # The overview's next refresh (every 5 s) shows it, with no run since and no reload.
    expect(row.locator(".badge.failing")).to_have_text("failing", timeout=12_000)
    expect(row).not_to_contain_text("on time")
    expect(row.locator(".reason")).to_contain_text("payload")
    assert page.evaluate("window.notReloaded === true")
    found = page.request.get("/api/v1/definitions").json()
    shown = next(d for d in found if d["definition"] == "Droppable")
    assert shown["state"] == "failing" and "payload" in shown["failing_reason"]
    page.goto("/definitions/export-to-pg/Droppable")
    expect(page.locator("#freshness .badge.failing")).to_be_visible()
    expect(page.locator("#freshness")).not_to_contain_text("on time")
