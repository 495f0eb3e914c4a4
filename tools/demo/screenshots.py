"""`make screenshots`: the README's console screenshots, from the demo's data, in Chromium.

Loads the demo (`make console`'s data: two good runs of each definition, one failed
StatEvent run) on a throwaway PostgreSQL in .tablesync/screenshots-pg, gives ImportJob
more rows and starts its backfill, slowed to a pause per chunk so it is still running
while the console is photographed, then takes the overview, the failed definition and
the running backfill's page at 1440 and 390 px wide with Debian's Chromium
(/usr/bin/chromium; never a downloaded browser). Every process it starts is stopped by
PID at the end.

    python -m tools.demo.screenshots [OUT_DIR]    # default docs/screenshots
"""

from __future__ import annotations

import http.client
import json
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from playwright.sync_api import Page, sync_playwright

from tools.demo.console import load_demo
from tools.demo.round_trip import REPO_ROOT, say
from tools.testdb.embedded_pg import EmbeddedPostgres

DATA_DIR = REPO_ROOT / ".tablesync" / "screenshots-pg"
WORK_DIR = REPO_ROOT / ".tablesync" / "screenshots"
NAMES = ("screens_core", "screens_analytics")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
WIDTHS = (1440, 390)
JOB = "export-to-pg"
# ImportJob rows added for the backfill, and how it is slowed: a chunk of 4 heap blocks,
# a pause after each, so the run page shows a backfill part-way through.
BACKFILL_ROWS = 40_000
BACKFILL_ENV = {"TABLESYNC_BACKFILL_CHUNK_PAGES": "4", "TABLESYNC_TEST_DELAY": "chunk:0.25"}
MORE_IMPORT_JOBS = """
INSERT INTO "ImportJob" ("source", "status", "stats", "startedAt", "finishedAt", "nbCreated")
SELECT (ARRAY['letudiant', 'jobteaser', 'api', 'csv'])[1 + g %% 4], 'succeeded',
       jsonb_build_object('pages', g %% 30), now() - interval '2 days' + g * interval '1 s',
       now() - interval '2 days' + g * interval '1 s' + interval '3 s', g %% 1000
FROM generate_series(1, %s) AS g
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api(port: int, token: str, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def wait_live(port: int, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the console exited {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/health/live")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the console did not answer")


def running_backfill(port: int, token: str, timeout_s: float = 120) -> int:
    """The id of ImportJob's running run, once it has a few chunks done."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = api(port, token, f"/api/v1/runs?job={JOB}&definition=ImportJob&status=running")
        found = runs.get("runs", runs) if isinstance(runs, dict) else runs
        if found and int(found[0].get("rows_read") or 0) > 0:
            return int(found[0]["id"])
        time.sleep(0.3)
    raise RuntimeError("ImportJob's backfill never got going")


def shoot(page: Page, url: str, out: Path, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(url)
        page.wait_for_timeout(1500)  # live values settle (a running run polls every second)
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > width:  # the browser tests check this too; a photo never hides it
            raise RuntimeError(f"{url} is {wide} px wide in a {width} px window")
        path = out / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        say(f"saved {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/signin?next=/")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def photograph(port: int, token: str, run_id: int, out: Path) -> None:
    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(base_url=base).new_page()
            sign_in(page, base, token)
            shoot(page, f"{base}/runs/{run_id}", out, "backfill-running")
            shoot(page, f"{base}/", out, "overview")
            shoot(page, f"{base}/definitions/{JOB}/StatEvent", out, "definition-failed")
        finally:
            browser.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]).resolve() if args else REPO_ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(DATA_DIR)
    say(f"server: {server.start()}")
    started: list[subprocess.Popen[bytes]] = []
    try:
        env = load_demo(server, cwd=WORK_DIR, names=NAMES)
        with psycopg.connect(env["DATABASE_URL_CORE"], autocommit=True) as conn:
            conn.execute(MORE_IMPORT_JOBS, (BACKFILL_ROWS,))
        run_job = [sys.executable, str(REPO_ROOT / "run_job.py")]
        reset = [*run_job, JOB, "--reset", "--yes", "ImportJob"]
        subprocess.run(reset, env=env, cwd=WORK_DIR, check=True, stdout=subprocess.DEVNULL)
        token, port = secrets.token_urlsafe(24), free_port()
        console_env = {**env, "TABLESYNC_API_TOKEN": token}
        serve = [*run_job, "serve", "--port", str(port)]
        started.append(subprocess.Popen(serve, env=console_env, cwd=WORK_DIR))
        wait_live(port, started[-1])
        backfill = [*run_job, JOB, "ImportJob"]
        slowed = {**env, **BACKFILL_ENV}
        quiet = subprocess.DEVNULL
        started.append(subprocess.Popen(backfill, env=slowed, cwd=WORK_DIR, stderr=quiet))
        run_id = running_backfill(port, token)
        photograph(port, token, run_id, out)
    finally:
        for process in reversed(started):
            stop(process)
        for name in NAMES:
            server.drop_database(name)
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
