"""The console's HTTP side against the real PostgreSQL, uvicorn really serving on a port:
every route, who may call it, runs started over HTTP, health and metrics."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from consolekit import (
    TOKEN,
    XSS_NAME,
    Console,
    console_cli,
    hold_lock,
    serving,
    sign_in,
    wait_for_run,
)
from dbtools import PgServer, TestDatabases, unique_db_name
from faultkit import JOB, insert_events
from prometheus_client.parser import text_string_to_metric_families

ALL_DEFINITIONS = {
    "StatEvent",
    "StatEventSQL",
    "ImportJob",
    "Events",
    "EventsCopy",
    "EventsSlow",
    "SlowFail",
    "Droppable",
    XSS_NAME,
}
EVENTS = f"/definitions/{JOB}/Events"
BAD_BODY = {"job": JOB, "definitions": ["Nope"]}  # gets past auth to a 404: no run starts


@pytest.fixture(scope="module")
def shared_dbs(pg_server: PgServer, _templates: tuple[str, str]) -> Iterator[TestDatabases]:
    """One pair of databases for the module's consoles (they only read, or start runs)."""
    names = unique_db_name("core"), unique_db_name("analytics")
    databases = TestDatabases(
        core_url=pg_server.create_database(names[0], template=_templates[0]),
        analytics_url=pg_server.create_database(names[1], template=_templates[1]),
        server=pg_server,
    )
    try:
        yield databases
    finally:
        databases.close()
        for name in names:
            pg_server.drop_database(name)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console")


@pytest.fixture(scope="module")
def secured(shared_dbs: TestDatabases, workdir: Path) -> Iterator[Console]:
    """A console with TABLESYNC_API_TOKEN, over a definition that has run once."""
    cli = console_cli(shared_dbs, workdir)
    insert_events(shared_dbs, 30)
    assert cli.sync("Events").code == 0
    with serving(cli, token=TOKEN) as console:
        yield console


@pytest.fixture(scope="module")
def open_console(secured: Console) -> Iterator[Console]:
    """A console over the same databases without a token: read-only."""
    with serving(secured.cli, token=None) as console:
        yield console


def first_run_id(console: Console) -> int:
    return int(console.request("GET", "/api/v1/runs?limit=1", token=TOKEN).json()[0]["id"])


# -- the auth matrix ----------------------------------------------------------------------

READS = ["/", EVENTS, "/runs/{run}", "/api/v1/definitions", "/api/v1/runs", "/api/v1/runs/{run}"]
OPEN = ["/api/v1/health", "/api/v1/health/live", "/metrics", "/signin", "/static/console.css"]


def _path(console: Console, path: str) -> str:
    return path.replace("{run}", str(first_run_id(console)))


@pytest.mark.parametrize("path", READS + OPEN)
def test_without_a_token_configured_everything_reads(open_console: Console, path: str) -> None:
    reply = open_console.request("GET", _path(open_console, path))
    assert reply.status == 200, reply.text


def test_without_a_token_configured_every_post_is_403(open_console: Console) -> None:
    api = open_console.request("POST", "/api/v1/runs", body=json.dumps(BAD_BODY), token=TOKEN)
    form = open_console.request("POST", f"{EVENTS}/run", form={"csrf_token": "x"})
    run_all = open_console.request("POST", "/run-all", form={})
    assert (api.status, form.status, run_all.status) == (403, 403, 403)
    assert "read-only" in api.json()["error"]


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("sent", [None, "wrong-token-wrong-token"])
def test_with_a_token_reads_need_it(secured: Console, path: str, sent: str | None) -> None:
    secured.cookies.clear()
    reply = secured.request("GET", _path(secured, path), token=sent)
    if path.startswith("/api/"):
        assert reply.status == 401
        assert reply.headers["www-authenticate"].startswith("Bearer")
    else:
        assert reply.status == 303
        assert reply.headers["location"].startswith("/signin?next=")


@pytest.mark.parametrize("path", OPEN)
def test_health_metrics_and_sign_in_need_no_token(secured: Console, path: str) -> None:
    secured.cookies.clear()
    assert secured.request("GET", path).status == 200


@pytest.mark.parametrize("path", READS)
def test_the_right_bearer_token_reads(secured: Console, path: str) -> None:
    secured.cookies.clear()
    assert secured.request("GET", _path(secured, path), token=TOKEN).status == 200


@pytest.mark.parametrize("sent", [None, "wrong-token-wrong-token"])
def test_writes_without_the_right_token_are_401(secured: Console, sent: str | None) -> None:
    secured.cookies.clear()
    api = secured.request("POST", "/api/v1/runs", body=json.dumps(BAD_BODY), token=sent)
    form = secured.request("POST", f"/definitions/{JOB}/Nope/run", form={}, token=sent)
    assert (api.status, form.status) == (401, 401)


def test_the_right_bearer_token_writes_without_csrf(secured: Console) -> None:
    secured.cookies.clear()
    reply = secured.request("POST", "/api/v1/runs", body=json.dumps(BAD_BODY), token=TOKEN)
    assert reply.status == 404  # past auth: the definition is what is wrong


def test_a_signed_in_browser_reads_but_writes_only_with_its_csrf_token(secured: Console) -> None:
    secured.cookies.clear()
    csrf = sign_in(secured)
    for path in READS:
        assert secured.request("GET", _path(secured, path)).status == 200, path
    without = secured.request("POST", f"/definitions/{JOB}/Nope/run", form={})
    wrong = secured.request("POST", f"/definitions/{JOB}/Nope/run", form={"csrf_token": "forged"})
    api = secured.request("POST", "/api/v1/runs", body=json.dumps(BAD_BODY))
    assert (without.status, wrong.status, api.status) == (403, 403, 403)
    ok_form = secured.request("POST", f"/definitions/{JOB}/Nope/run", form={"csrf_token": csrf})
    ok_api = secured.request(
        "POST", "/api/v1/runs", body=json.dumps(BAD_BODY), headers={"X-CSRF-Token": csrf}
    )
    assert (ok_form.status, ok_api.status) == (404, 404)


def test_sign_in_needs_its_csrf_token_and_the_right_token(secured: Console) -> None:
    secured.cookies.clear()
    no_csrf = secured.request("POST", "/signin", form={"token": TOKEN})
    assert no_csrf.status == 403
    csrf = sign_in_form_csrf(secured)
    wrong = secured.request("POST", "/signin", form={"csrf_token": csrf, "token": "nope-nope-nope"})
    assert wrong.status == 401
    assert "not the token" in wrong.text
    assert secured.request("GET", "/").status == 303  # still not signed in


def sign_in_form_csrf(console: Console) -> str:
    from consolekit import csrf_of

    return csrf_of(console.request("GET", "/signin").text)


def test_the_session_cookie_is_httponly_samesite_strict_and_holds_no_token(
    secured: Console,
) -> None:
    secured.cookies.clear()
    csrf = sign_in_form_csrf(secured)
    reply = secured.request(
        "POST", "/signin", form={"csrf_token": csrf, "token": TOKEN, "next": "/"}
    )
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert TOKEN not in cookie


def test_a_forged_or_altered_cookie_is_not_a_session(secured: Console) -> None:
    secured.cookies.clear()
    sign_in(secured)
    value = secured.cookies["tablesync_session"]
    nonce, signed_in, issued, signature = value.split(".")
    secured.cookies["tablesync_session"] = f"{nonce}.{signed_in}.{int(issued) + 1}.{signature}"
    assert secured.request("GET", "/").status == 303


def test_sign_in_never_redirects_to_another_site(secured: Console) -> None:
    secured.cookies.clear()
    csrf = sign_in_form_csrf(secured)
    form = {"csrf_token": csrf, "token": TOKEN, "next": "//evil.example/x"}
    assert secured.request("POST", "/signin", form=form).headers["location"] == "/"


def test_no_response_carries_the_token(secured: Console) -> None:
    secured.cookies.clear()
    sign_in(secured)
    for path in READS + OPEN:
        reply = secured.request("GET", _path(secured, path), token=TOKEN)
        assert TOKEN not in reply.text and TOKEN not in json.dumps(reply.headers), path


def test_pages_have_a_csp_without_inline_script(secured: Console) -> None:
    secured.cookies.clear()
    sign_in(secured)
    for path in ["/", EVENTS, _path(secured, "/runs/{run}")]:
        reply = secured.request("GET", path)
        assert "script-src 'self'" in reply.headers["content-security-policy"]
        assert "unsafe-inline" not in reply.headers["content-security-policy"]
        assert reply.text.count("<script") == reply.text.count('<script src="/static/console.js"')


# -- what the routes say ------------------------------------------------------------------


def test_definitions_json_has_the_status_fields_and_the_freshness_limit(secured: Console) -> None:
    found = {
        d["definition"]: d
        for d in secured.request("GET", "/api/v1/definitions", token=TOKEN).json()
    }
    assert set(found) == ALL_DEFINITIONS
    events = found["Events"]
    assert events["last_run"]["status"] == "succeeded"
    assert events["position"]["id"] == "30"
    assert events["pending_rows"] == 0
    assert events["max_lag_s"] == 900.0 and events["stale"] is False
    assert {"lag", "lag_s", "cursor", "core_newest", "problem"} <= set(events)


def test_runs_are_listed_newest_first_and_filtered(secured: Console) -> None:
    runs = secured.request(
        "GET", "/api/v1/runs?definition=Events&status=succeeded", token=TOKEN
    ).json()
    assert runs and all(r["definition"] == "Events" and r["status"] == "succeeded" for r in runs)
    assert [r["id"] for r in runs] == sorted((r["id"] for r in runs), reverse=True)
    assert secured.request("GET", "/api/v1/runs?status=bogus", token=TOKEN).status == 422
    assert secured.request("GET", "/api/v1/runs?limit=0", token=TOKEN).status == 422
    assert secured.request("GET", "/api/v1/runs?job=other", token=TOKEN).json() == []


def test_one_run_and_an_unknown_one(secured: Console) -> None:
    run_id = first_run_id(secured)
    record = secured.request("GET", f"/api/v1/runs/{run_id}", token=TOKEN).json()
    assert record["id"] == run_id and record["progress"]["rows"] == record["rows_read"]
    assert secured.request("GET", "/api/v1/runs/999999", token=TOKEN).status == 404
    assert secured.request("GET", "/runs/999999", token=TOKEN).status == 404


def test_pages_show_the_definitions_and_their_runs(secured: Console) -> None:
    secured.cookies.clear()
    sign_in(secured)
    overview = secured.request("GET", "/").text
    assert "Events" in overview and "on time" in overview and "Run now" in overview
    page = secured.request("GET", EVENTS).text
    assert "public.events" in page and "analytics_raw.events" in page and "events_row" in page
    assert secured.request("GET", f"/definitions/{JOB}/Nope").status == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 422),
        (b'["a list"]', 422),
        (json.dumps({"job": JOB}).encode(), 422),
        (json.dumps({"job": JOB, "definitions": "Events"}).encode(), 422),
        (json.dumps({"job": JOB, "definitions": ["Events"], "all": True}).encode(), 422),
        (json.dumps({"job": JOB, "definitions": ["Events"], "extra": 1}).encode(), 422),
        (json.dumps({"job": "no-such-job", "all": True}).encode(), 404),
        (json.dumps(BAD_BODY).encode(), 404),
        (json.dumps({"job": JOB, "definitions": ["x" * 70_000]}).encode(), 413),
    ],
)
def test_bad_bodies_are_a_clear_4xx(secured: Console, body: bytes, status: int) -> None:
    reply = secured.request("POST", "/api/v1/runs", body=body, token=TOKEN)
    assert reply.status == status
    assert reply.json()["error"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"job": JOB, "definitions": ["Events"], "all": True}, "not both"),
        ({"job": JOB, "all": "yes"}, '"all" must be true or false'),
        ({"job": JOB, "all": False}, 'give "definitions": a non-empty list of names'),
    ],
)
def test_definitions_and_all_are_told_apart(
    secured: Console, body: dict[str, object], error: str
) -> None:
    reply = secured.request("POST", "/api/v1/runs", body=json.dumps(body), token=TOKEN)
    assert reply.status == 422 and error in reply.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/runs", "GET, HEAD, POST"),
        ("PUT", "/api/v1/definitions", "GET, HEAD"),
        ("POST", "/metrics", "GET, HEAD"),
        ("DELETE", "/", "GET, HEAD"),
    ],
)
def test_a_wrong_method_is_405_naming_the_allowed_ones(
    secured: Console, method: str, path: str, allowed: str
) -> None:
    reply = secured.request(method, path, token=TOKEN)
    assert reply.status == 405
    assert reply.headers["allow"] == allowed
    expected = f"{method} is not allowed on {path}; allowed: {allowed}"
    if path.startswith("/api/") or path == "/metrics":
        assert reply.json() == {"error": expected}
    else:
        assert expected in reply.text


def test_every_time_in_json_is_rfc3339_utc_with_z(secured: Console) -> None:
    run = secured.request("GET", f"/api/v1/runs/{first_run_id(secured)}", token=TOKEN).json()
    (events,) = [
        d
        for d in secured.request("GET", "/api/v1/definitions", token=TOKEN).json()
        if d["definition"] == "Events"
    ]
    times = [
        run["started_at"], run["finished_at"], run["cursor_after"]["value"],
        events["last_run"]["started_at"], events["core_newest"], events["position"]["value"],
    ]  # fmt: skip
    for value in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", value), value


# -- runs started over HTTP -----------------------------------------------------------------


def test_a_run_started_over_http_is_an_ordinary_run_recorded_as_from_the_console(
    secured: Console, shared_dbs: TestDatabases
) -> None:
    insert_events(shared_dbs, 5, tag="http")
    reply = secured.request(
        "POST",
        "/api/v1/runs",
        body=json.dumps({"job": JOB, "definitions": ["Events"]}),
        token=TOKEN,
    )
    assert reply.status == 202, reply.text
    (started,) = reply.json()["runs"]
    assert started["definition"] == "Events" and started["url"] == f"/runs/{started['id']}"
    record = wait_for_run(shared_dbs, started["id"])
    assert record == {"status": "succeeded", "origin": "console", "rows_read": 5}
    cron = shared_dbs.query_analytics("SELECT origin FROM tablesync.runs ORDER BY id LIMIT 1")
    assert cron == [("cli",)]


def test_409_while_the_lock_is_held_elsewhere_and_nothing_starts(
    secured: Console, shared_dbs: TestDatabases
) -> None:
    before = shared_dbs.query_analytics("SELECT count(*) FROM tablesync.runs")
    holder = shared_dbs.analytics()
    hold_lock(holder, "Events")
    try:
        api = secured.request(
            "POST", "/api/v1/runs", body=json.dumps({"job": JOB, "all": True}), token=TOKEN
        )
        form = secured.request("POST", f"{EVENTS}/run", form={}, token=TOKEN)
    finally:
        holder.close()
    assert api.status == 409 and api.json()["locked"] == ["Events"]
    # POST-redirect-GET: the form answers 303 to its notice; reloading that posts nothing.
    assert form.status == 303 and form.headers["location"].startswith("/notices/")
    for _ in range(2):
        notice = secured.request("GET", form.headers["location"], token=TOKEN)
        assert notice.status == 409 and "already going" in notice.text
    assert shared_dbs.query_analytics("SELECT count(*) FROM tablesync.runs") == before


def test_a_failing_run_does_not_take_the_console_down_and_its_row_is_shown(
    secured: Console, shared_dbs: TestDatabases
) -> None:
    shared_dbs.query_core("INSERT INTO events (payload) VALUES ('boom')")
    try:
        reply = secured.request(
            "POST",
            "/api/v1/runs",
            body=json.dumps({"job": JOB, "definitions": ["Events"]}),
            token=TOKEN,
        )
        run_id = reply.json()["runs"][0]["id"]
        assert wait_for_run(shared_dbs, run_id)["status"] == "failed"
        assert secured.request("GET", "/api/v1/health/live").status == 200
        page = secured.request("GET", f"/runs/{run_id}", token=TOKEN).text
        assert "&#34;payload&#34;: &#34;boom&#34;" in page  # the failure file's row, escaped
        assert "&lt;script&gt;alert(&#39;error&#39;)&lt;/script&gt;" in page
        assert "python run_job.py export-to-pg Events" in page
    finally:
        shared_dbs.query_core("DELETE FROM events WHERE payload = 'boom'")
        assert secured.cli.sync("Events").code == 0  # leaves the definition healthy


# -- health and metrics ----------------------------------------------------------------------


def test_health_is_ok_when_both_databases_and_migrations_are(secured: Console) -> None:
    reply = secured.request("GET", "/api/v1/health")
    assert reply.status == 200
    assert reply.json() == {
        "status": "ok",
        "checks": {"core": "ok", "analytics": "ok", "migrations": "ok"},
        "failing": [],
    }


def test_health_is_503_naming_analytics_when_it_is_unreachable_and_liveness_stays_200(
    secured: Console,
) -> None:
    from consolekit import free_port

    down = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    with serving(secured.cli, extra_env={"DATABASE_URL_ANALYTICS": down}) as console:
        health = console.request("GET", "/api/v1/health")
        live = console.request("GET", "/api/v1/health/live")
        overview = console.request("GET", "/api/v1/definitions", token=TOKEN)
    assert health.status == 503
    assert health.json()["failing"] == ["analytics", "migrations"]
    assert "cannot connect to the analytics database" in health.json()["checks"]["analytics"]
    assert live.status == 200
    assert overview.status == 503 and "cannot be reached" in overview.json()["error"]


def _scrape(console: Console) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = console.request("GET", "/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_equal_the_run_records(secured: Console, shared_dbs: TestDatabases) -> None:
    # A run recorded by "another machine": only the record exists, as cron elsewhere leaves it.
    shared_dbs.query_analytics(
        "INSERT INTO tablesync.runs (job, definition, status, rows_read, rows_created,"
        " rows_deleted, host) VALUES (%s, 'Events', 'failed', 7, 3, 2, 'cron-elsewhere')",
        (JOB,),
    )
    scraped = _scrape(secured)
    labels = (("definition", "Events"), ("job", JOB))
    for status, count in shared_dbs.query_analytics(
        "SELECT status, count(*) FROM tablesync.runs WHERE definition = 'Events'"
        " AND status <> 'running' GROUP BY status"
    ):
        assert scraped[("tablesync_runs_total", (*labels, ("status", status)))] == count
    sums = shared_dbs.query_analytics(
        "SELECT sum(rows_read), sum(rows_created), sum(rows_updated), sum(rows_skipped),"
        " sum(rows_deleted), sum(rows_errors) FROM tablesync.runs WHERE definition = 'Events'"
    )[0]
    for outcome, total in zip(
        ["read", "created", "updated", "skipped", "deleted", "errors"], sums, strict=True
    ):
        key = ("tablesync_rows_total", tuple(sorted((*labels, ("outcome", outcome)))))
        assert scraped[key] == total
    success, duration = shared_dbs.query_analytics(
        "SELECT (SELECT extract(epoch FROM finished_at) FROM tablesync.runs"
        " WHERE definition = 'Events' AND status = 'succeeded' ORDER BY started_at DESC LIMIT 1),"
        " (SELECT extract(epoch FROM finished_at - started_at) FROM tablesync.runs"
        " WHERE definition = 'Events' AND finished_at IS NOT NULL ORDER BY started_at DESC LIMIT 1)"
    )[0]
    assert scraped[("tablesync_last_success_timestamp_seconds", labels)] == pytest.approx(
        float(success)
    )
    assert scraped[("tablesync_run_duration_seconds", labels)] == pytest.approx(
        float(duration or 0)
    )
    assert scraped[("tablesync_pending_rows", labels)] == 0
    assert ("tablesync_lag_seconds", labels) in scraped


def test_a_running_record_is_a_gauge_never_a_counter_that_falls(
    secured: Console, shared_dbs: TestDatabases
) -> None:
    # A run under way, as a runner elsewhere leaves it while it works.
    (run_id,) = shared_dbs.query_analytics(
        "INSERT INTO tablesync.runs (job, definition, status, host) VALUES (%s, 'Events',"
        " 'running', 'cron-elsewhere') RETURNING id",
        (JOB,),
    )[0]
    try:
        scraped = _scrape(secured)
    finally:
        shared_dbs.query_analytics("DELETE FROM tablesync.runs WHERE id = %s", (run_id,))
    labels = (("definition", "Events"), ("job", JOB))
    assert scraped[("tablesync_running", labels)] == 1
    statuses = {dict(key[1]).get("status") for key in scraped if key[0] == "tablesync_runs_total"}
    assert "running" not in statuses and "succeeded" in statuses


def test_a_backfill_under_way_shows_on_the_page_and_in_the_metrics(
    secured: Console, shared_dbs: TestDatabases
) -> None:
    # As runners elsewhere leave it: 2 of 3 chunks done, 120 rows so far.
    shared_dbs.query_analytics(
        "INSERT INTO tablesync.backfills (job, definition, source_pages, chunk_pages,"
        " chunks_total, into_empty) VALUES (%s, 'Events', 30, 10, 3, false)",
        (JOB,),
    )
    shared_dbs.query_analytics(
        "INSERT INTO tablesync.backfill_chunks (job, definition, chunk, first_page, end_page,"
        " done_at, rows_read) VALUES (%s, 'Events', 0, 0, 10, now(), 70),"
        " (%s, 'Events', 1, 10, 20, now(), 50), (%s, 'Events', 2, 20, NULL, NULL, 0)",
        (JOB, JOB, JOB),
    )
    try:
        scraped = _scrape(secured)
        labels = (("definition", "Events"), ("job", JOB))
        assert scraped[("tablesync_backfill_chunks_done", labels)] == 2
        assert scraped[("tablesync_backfill_chunks", labels)] == 3
        secured.cookies.clear()
        sign_in(secured)
        assert "2/3 chunks done, 120 rows so far" in secured.request("GET", EVENTS).text
    finally:
        shared_dbs.query_analytics("DELETE FROM tablesync.backfills WHERE definition = 'Events'")
    assert ("tablesync_backfill_chunks", labels) not in _scrape(secured)


# -- the command ------------------------------------------------------------------------------


def test_serve_on_another_address_without_a_token_is_exit_2(run_cli, env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    env = {**env, "TABLESYNC_API_TOKEN": ""}
    code, _, err = run_cli(["serve", "--host", "0.0.0.0", "--port", "1"], env=env)
    assert code == 2
    assert (
        "error: --host 0.0.0.0 accepts connections from other machines: set TABLESYNC_API_TOKEN"
        in err
    )
    code, _, err = run_cli(["serve", "--port", "1"], env={**env, "TABLESYNC_API_TOKEN": "tiny-pw"})
    assert code == 2 and "TABLESYNC_API_TOKEN is too short" in err and "tiny-pw" not in err


def test_serve_is_listed_in_the_help(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(["--help"], env=dict(os.environ))
    assert code == 0 and "serve" in out


def test_under_a_path_prefix_every_link_and_redirect_carries_it(secured: Console) -> None:
    with serving(secured.cli, extra_env={"TABLESYNC_ROOT_PATH": "/ts"}) as console:
        # The proxy strips the prefix before it forwards (docs/console.md).
        redirect = console.request("GET", "/")
        form = console.request("GET", "/signin?next=/")
        csrf = sign_in_form_csrf(console)
        signed = console.request("POST", "/signin", form={"csrf_token": csrf, "token": TOKEN})
        overview = console.request("GET", "/")
    assert redirect.headers["location"] == "/ts/signin?next=/"
    assert 'action="/ts/signin"' in form.text and 'href="/ts/static/console.css"' in form.text
    assert signed.headers["location"] == "/ts/" and "Path=/ts/" in signed.headers["set-cookie"]
    assert f'href="/ts/definitions/{JOB}/Events"' in overview.text


def test_run_all_starts_every_definition_and_sign_out_ends_the_session(
    secured: Console, shared_dbs: TestDatabases
) -> None:
    secured.cookies.clear()
    csrf = sign_in(secured)
    before = shared_dbs.query_analytics("SELECT coalesce(max(id), 0) FROM tablesync.runs")[0][0]
    reply = secured.request("POST", "/run-all", form={"csrf_token": csrf})
    assert reply.status == 303 and reply.headers["location"] == "/"
    started = shared_dbs.query_analytics(
        "SELECT id, definition FROM tablesync.runs WHERE id > %s ORDER BY id", (before,)
    )
    assert {name for _, name in started} == ALL_DEFINITIONS
    for run_id, _ in started:
        record = wait_for_run(shared_dbs, run_id)
        assert record["origin"] == "console" and record["status"] in ("succeeded", "failed")
    out = secured.request("POST", "/signout", form={"csrf_token": csrf})
    assert out.status == 303 and out.headers["location"] == "/signin"
    assert secured.request("GET", "/").status == 303


def test_the_favicon_and_the_health_page_are_there_for_a_browser(secured: Console) -> None:
    icon = secured.request("GET", "/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    page = secured.request("GET", "/health", token=TOKEN)
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="/"' in page.text and "/api/v1/health" in page.text and "/metrics" in page.text
    overview = secured.request("GET", "/", token=TOKEN).text
    assert "definitions:" in overview and "definition(s)" not in overview
    assert 'href="/health"' in overview and 'rel="icon"' in overview
