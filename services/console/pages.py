"""The HTML pages and their forms: overview, definition, run, sign-in, Run now."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.console import views
from services.console.auth import CSRF_FIELD, SESSION_COOKIE, SESSION_MAX_AGE_S, Session
from services.console.health import check_health
from services.console.launcher import LockHeld, Started
from services.console.notices import Notice
from services.console.render import render
from services.console.run_progress import run_progress
from services.console.views import RUN_STATUSES
from services.console.web import BadRequest, form_fields
from services.reporting import resume_command
from services.store import RunRecord

if TYPE_CHECKING:
    from services.console.app import Console


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _path(request: Request, path: str) -> str:
    return _console(request).settings.root_path + path


def set_session(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        _console(request).auth.cookie_value(session),
        max_age=SESSION_MAX_AGE_S,
        path=_path(request, "/"),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def overview(request: Request) -> Response:
    console = _console(request)
    found = await run_in_threadpool(
        views.overview, console.pools, console.catalog, console.settings.max_lag_s
    )
    return render(request, "overview.html", definitions=found)


def _known(request: Request) -> tuple[str, str]:
    job, name = request.path_params["job"], request.path_params["definition"]
    if _console(request).catalog.find(job, name) is None:
        raise BadRequest(404, f"no definition {name!r} in job {job!r}")
    return job, name


async def definition(request: Request) -> Response:
    console = _console(request)
    job, name = _known(request)
    status = request.query_params.get("status") or None
    if status is not None and status not in RUN_STATUSES:
        raise BadRequest(422, f"status must be one of {', '.join(RUN_STATUSES)}")
    page = request.query_params.get("page", "0")
    if not page.isdigit():
        raise BadRequest(422, "page must be a whole number")
    found = await run_in_threadpool(
        views.definition_page,
        console.pools,
        console.catalog,
        job,
        name,
        console.settings.max_lag_s,
        status=status,
        page=int(page),
        failures=console.settings.run.failures_dir,
    )
    return render(request, "definition.html", page=found, statuses=RUN_STATUSES)


async def run(request: Request) -> Response:
    console = _console(request)
    run_id = request.path_params["run_id"]
    record: RunRecord | None = await run_in_threadpool(views.run_record, console.pools, run_id)
    if record is None:
        raise BadRequest(404, f"no run {run_id}")
    definition = console.catalog.find(record["job"], record["definition"])
    failure = None
    if record["status"] == "failed":
        table = None
        if definition is not None:
            table = await run_in_threadpool(views.destination_table, console.pools, definition)
        failure = views.failure_of(record, console.settings.run.failures_dir, table)
    cursor = definition.source.cursor if definition is not None else None
    progress = await run_in_threadpool(
        run_progress, console.pools, console.catalog, console.totals, record
    )
    return render(
        request,
        "run.html",
        run=record,
        failure=failure,
        progress=progress,
        cursor_field=cursor.field if cursor else "value",
        id_field=cursor.id_field if cursor else None,
        resume=resume_command(record["job"], record["definition"]),
    )


async def run_now(request: Request) -> Response:
    console = _console(request)
    job, name = _known(request)
    try:
        started = await run_in_threadpool(console.launcher.start, job, [name])
    except LockHeld as exc:
        return _notice(request, Notice(409, "Already running", str(exc)))
    return _after_start(request, started)


async def run_all(request: Request) -> Response:
    console = _console(request)
    started: list[Started] = []
    for job, definitions in console.catalog.jobs.items():
        started += await run_in_threadpool(
            console.launcher.start, job, list(definitions), skip_busy=True
        )
    refused = [s for s in started if s.run_id is None]
    if refused:
        lines = [_named(s.definition, s.error) for s in refused]
        return _notice(request, Notice(409, "Some runs did not start", lines=lines))
    return RedirectResponse(_path(request, "/"), 303)


def _named(definition: str, error: str | None) -> str:
    """``StatEvent: why``; an error that already starts with the name keeps it once."""
    text = error or "no reason given"
    return text if text.startswith(f"{definition}: ") else f"{definition}: {text}"


def _notice(request: Request, notice: Notice) -> Response:
    """303 to the notice's own page: reloading it never posts the form again."""
    key = _console(request).notices.put(notice)
    return RedirectResponse(_path(request, f"/notices/{key}"), 303)


async def notice(request: Request) -> Response:
    found = _console(request).notices.get(request.path_params["key"])
    if found is None:
        raise BadRequest(404, "this notice is gone (the console keeps the newest ones only)")
    lines = found.lines
    return render(
        request, "message.html", found.status, title=found.title, message=found.message, lines=lines
    )


def _after_start(request: Request, started: list[Started]) -> Response:
    first = started[0]
    if first.run_id is not None:
        return RedirectResponse(_path(request, f"/runs/{first.run_id}"), 303)
    status = 409 if first.locked else 422 if first.refused else 500
    return _notice(request, Notice(status, "The run did not start", first.error))


async def signin_form(request: Request) -> Response:
    console = _console(request)
    session = request.state.session = console.auth.new_session(signed_in=False)
    response = render(request, "signin.html", next=_next(request.query_params.get("next")))
    if not console.auth.read_only:
        set_session(request, response, session)
    return response


def _next(target: str | None) -> str:
    # Only a path on this console: never a redirect to another site.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def signin(request: Request) -> Response:
    console = _console(request)
    auth = console.auth
    if auth.read_only:
        raise BadRequest(403, "the console is read-only: TABLESYNC_API_TOKEN is not set")
    fields = await form_fields(request)
    session = auth.session_from(request.cookies.get(SESSION_COOKIE))
    if not auth.csrf_matches(session, fields.get(CSRF_FIELD)):
        raise BadRequest(403, "missing or wrong CSRF token: reload the sign-in page and retry")
    target = _next(fields.get("next"))
    if not auth.token_matches(fields.get("token")):
        request.state.session = session
        return render(request, "signin.html", 401, next=target, error="That is not the token.")
    response = RedirectResponse(_path(request, target), 303)
    # A new nonce at sign-in: a session cookie planted before it is worth nothing after.
    set_session(request, response, auth.new_session(signed_in=True))
    return response


async def signout(request: Request) -> Response:
    response = RedirectResponse(_path(request, "/signin"), 303)
    response.delete_cookie(SESSION_COOKIE, path=_path(request, "/"))
    return response


async def health(request: Request) -> Response:
    """/api/v1/health for people: each check's verdict, links to the JSON and the metrics."""
    found = await run_in_threadpool(check_health, _console(request).urls)
    return render(request, "health.html", 200 if found.ok else 503, health=found)
