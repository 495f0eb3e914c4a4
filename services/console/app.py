"""The console's ASGI application: every route and who may call it, in one table."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment
from prometheus_client.registry import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles

from services.base import DatabaseUrls, redact
from services.console import api, pages
from services.console.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    Auth,
    Caller,
    Need,
    bearer_of,
)
from services.console.catalog import DOWN_ERRORS, Catalog, ConsolePools
from services.console.launcher import Launcher
from services.console.metrics import registry
from services.console.notices import Notices
from services.console.render import environment, render
from services.console.run_progress import RunTotals
from services.console.scheduler import Scheduler
from services.console.settings import ConsoleSettings
from services.console.web import ASGIApp, BadRequest, error_json, form_fields, with_security_headers

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class Console:
    """Everything the routes share, built once at start."""

    settings: ConsoleSettings
    urls: DatabaseUrls
    catalog: Catalog
    auth: Auth
    pools: ConsolePools
    launcher: Launcher
    scheduler: Scheduler  # runs definitions that have a schedule when they are due
    templates: Environment
    registry: CollectorRegistry
    totals: RunTotals  # running runs' window counts, counted once each
    notices: Notices  # what form posts left for the pages they redirect to


class Kind(Enum):
    """How a route answers, and so how it refuses."""

    PAGE = "page"  # HTML; a caller not signed in is sent to the sign-in form
    FORM = "form"  # an HTML form post; its CSRF token is a field
    API = "api"  # JSON; a CSRF token, when a browser sends one, is a header


def guarded(need: Need, kind: Kind, endpoint: Endpoint) -> Endpoint:
    """``endpoint`` behind the console's one access decision (services/console/auth.py)."""

    async def checked(request: Request) -> Response:
        auth: Auth = request.app.state.console.auth
        session = auth.session_from(request.cookies.get(SESSION_COOKIE))
        csrf = request.headers.get(CSRF_HEADER)
        if kind is Kind.FORM and need is Need.WRITE and not auth.read_only:
            csrf = (await form_fields(request)).get(CSRF_FIELD)
        caller = Caller(bearer_of(request.headers.get("authorization")), session, csrf)
        decision = auth.decide(need, caller)
        if decision.allowed:
            request.state.session = session
            return await endpoint(request)
        if kind is Kind.PAGE and decision.status == 401:
            root = request.app.state.console.settings.root_path
            target = quote(request.url.path.removeprefix(root) or "/", safe="/")
            return RedirectResponse(f"{root}/signin?next={target}", 303)
        raise BadRequest(decision.status, decision.reason)

    return checked


def _routes() -> list[Route | Mount]:
    read, write, open_ = Need.READ, Need.WRITE, Need.OPEN
    page, form, json = Kind.PAGE, Kind.FORM, Kind.API
    table: list[tuple[str, str, Need, Kind, Endpoint]] = [
        ("/", "GET", read, page, pages.overview),
        # A definition's name may hold "/": its Run now route comes first, so it wins.
        ("/definitions/{job}/{definition:path}/run", "POST", write, form, pages.run_now),
        ("/definitions/{job}/{definition:path}", "GET", read, page, pages.definition),
        ("/run-all", "POST", write, form, pages.run_all),
        ("/runs/{run_id:int}", "GET", read, page, pages.run),
        ("/notices/{key}", "GET", read, page, pages.notice),
        ("/health", "GET", read, page, pages.health),
        ("/signin", "GET", open_, page, pages.signin_form),
        ("/signin", "POST", open_, form, pages.signin),  # checks its own CSRF token
        ("/signout", "POST", write, form, pages.signout),
        ("/api/v1/definitions", "GET", read, json, api.definitions),
        ("/api/v1/runs", "GET", read, json, api.runs),
        ("/api/v1/runs", "POST", write, json, api.start_runs),
        ("/api/v1/runs/{run_id:int}", "GET", read, json, api.one_run),
        ("/api/v1/health", "GET", open_, json, api.health),
        ("/api/v1/health/live", "GET", open_, json, api.live),
        ("/metrics", "GET", open_, json, api.metrics),
    ]
    routes: list[Route | Mount] = [
        Route(path, guarded(need, kind, endpoint), methods=[method])
        for path, method, need, kind, endpoint in table
    ]
    routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))
    # Browsers ask for /favicon.ico whatever the page says: the console's icon, not a 404.
    routes.append(Route("/favicon.ico", favicon, methods=["GET"]))
    return routes


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/metrics"


async def _refused(request: Request, exc: Exception) -> Response:
    status, reason = (exc.status, exc.reason) if isinstance(exc, BadRequest) else (500, str(exc))
    if _wants_json(request):
        response = error_json(status, reason)
    else:
        response = render(request, "message.html", status, title=f"Error {status}", message=reason)
    if status == 401:
        response.headers["www-authenticate"] = 'Bearer realm="tablesync"'
    return response


async def _down(request: Request, exc: Exception) -> Response:
    reason = f"a database cannot be reached now: {redact(exc)}"
    log.warning("%s %s: %s", request.method, request.url.path, reason)
    return await _refused(request, BadRequest(503, reason))


async def _not_found(request: Request, exc: Exception) -> Response:
    return await _refused(request, BadRequest(404, "no such page"))


async def _wrong_method(request: Request, exc: Exception) -> Response:
    """405 naming the methods the path does answer (every route of it, not only the
    first that matched), in the body and the Allow header."""
    allowed = sorted(
        {
            method
            for route in request.app.routes
            if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE
            for method in route.methods or ()
        }
    )
    reason = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
    response = await _refused(request, BadRequest(405, reason))
    response.headers["allow"] = ", ".join(allowed)
    return response


def build_app(console: Console) -> ASGIApp:
    """The console's application; its children are stopped when it shuts down."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        console.scheduler.start()
        try:
            yield
        finally:
            console.scheduler.stop()  # no run starts once the console is stopping
            console.launcher.stop_all()  # SIGTERM to the runs it started, then wait
            console.pools.close()

    handlers: dict[int | type[Exception], Callable[..., Awaitable[Response]]] = {
        BadRequest: _refused,
        404: _not_found,
        405: _wrong_method,
    }
    for error in DOWN_ERRORS:
        handlers[error] = _down
    app = Starlette(routes=_routes(), exception_handlers=handlers, lifespan=lifespan)
    app.state.console = console
    return with_security_headers(app)


def make_console(
    settings: ConsoleSettings, urls: DatabaseUrls, catalog: Catalog, environ: Mapping[str, str]
) -> Console:
    """The console's parts; ``environ`` is the environment of the runs it starts."""
    pools = ConsolePools(urls)
    stop_timeout_s = settings.run.stop_timeout_s
    launcher = Launcher(settings.runner, pools, environ=environ, stop_timeout_s=stop_timeout_s)
    return Console(
        settings=settings,
        urls=urls,
        catalog=catalog,
        auth=Auth(settings.token),
        pools=pools,
        launcher=launcher,
        scheduler=Scheduler(catalog, pools, launcher),
        templates=environment(),
        registry=registry(pools, catalog, settings.max_lag_s),
        totals=RunTotals(),
        notices=Notices(),
    )
