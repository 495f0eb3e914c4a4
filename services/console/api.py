"""The JSON API under /api/v1, health for probes and /metrics for Prometheus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from services.console import views
from services.console.health import check_health
from services.console.launcher import LockHeld, Started
from services.console.run_progress import run_progress
from services.console.views import RUN_STATUSES
from services.console.web import BadRequest, error_json, json_response, read_body
from services.store import MAX_PAGE, RunFilter, RunRecord

if TYPE_CHECKING:
    from services.console.app import Console


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


async def definitions(request: Request) -> Response:
    console = _console(request)
    found = await run_in_threadpool(
        views.overview, console.pools, console.catalog, console.settings.max_lag_s, recent=0
    )
    return json_response([view.as_dict() for view in found])


def _run_filter(request: Request) -> tuple[RunFilter, int]:
    params = request.query_params
    status = params.get("status") or None
    if status is not None and status not in RUN_STATUSES:
        raise BadRequest(422, f"status must be one of {', '.join(RUN_STATUSES)}")
    limit = params.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
        raise BadRequest(422, f"limit must be a whole number from 1 to {MAX_PAGE}")
    which = RunFilter(
        job=params.get("job") or None,
        definition=params.get("definition") or None,
        status=status,
        origin=params.get("origin") or None,
    )
    return which, int(limit)


async def runs(request: Request) -> Response:
    which, limit = _run_filter(request)
    found = await run_in_threadpool(views.list_runs, _console(request).pools, which, limit=limit)
    return json_response([_shown(record) for record in found])


def _shown(record: RunRecord) -> RunRecord:
    return {**record, "duration_s": round(views.duration_s(record), 3)}


async def one_run(request: Request) -> Response:
    console = _console(request)
    run_id = request.path_params["run_id"]
    record = await run_in_threadpool(views.run_record, console.pools, run_id)
    if record is None:
        raise BadRequest(404, f"no run {run_id}")
    progress = await run_in_threadpool(
        run_progress, console.pools, console.catalog, console.totals, record
    )
    return json_response({**_shown(record), "progress": progress.to_dict()})


def _run_request(console: Console, body: bytes) -> tuple[str, list[str]]:
    """(job, names) of a POST /api/v1/runs body; BadRequest 422 or 404 when it is wrong."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest(422, "the body is not valid JSON") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("job"), str):
        raise BadRequest(422, 'the body must be {"job": ..., "definitions": [...]} or "all": true')
    unexpected = set(parsed) - {"job", "definitions", "all"}
    if unexpected:
        raise BadRequest(422, f"unknown field(s): {', '.join(sorted(unexpected))}")
    job, names, every = parsed["job"], parsed.get("definitions"), parsed.get("all", False)
    if not isinstance(every, bool):
        raise BadRequest(422, '"all" must be true or false')
    if every and names is not None:
        raise BadRequest(422, 'give "definitions" or "all": true, not both')
    if job not in console.catalog.jobs:
        raise BadRequest(404, f"unknown job {job!r}; known: {', '.join(console.catalog.jobs)}")
    if every:
        return job, list(console.catalog.jobs[job])
    if not isinstance(names, list) or not names:
        raise BadRequest(422, 'give "definitions": a non-empty list of names, or "all": true')
    if not all(isinstance(n, str) for n in names):
        raise BadRequest(422, '"definitions" must be a list of names (strings)')
    unknown = [n for n in names if n not in console.catalog.jobs[job]]
    if unknown:
        raise BadRequest(404, f"unknown definition(s) for {job}: {', '.join(map(repr, unknown))}")
    return job, list(dict.fromkeys(names))


async def start_runs(request: Request) -> Response:
    """202 when at least one run started, each definition's outcome in ``runs`` (and the
    refused ones named in ``refused``); else 409 (locks held), 422 (refused by their
    pre-flight check: the message) or 500 (the runs could not start). docs/console.md."""
    console = _console(request)
    job, names = _run_request(console, await read_body(request))
    try:
        started = await run_in_threadpool(console.launcher.start, job, names)
    except LockHeld as exc:
        return error_json(409, str(exc), locked=exc.names)
    shown = [_started(request, s) for s in started]
    refused = [s for s in started if s.refused]
    if any(s.outcome == "started" for s in started):
        return json_response({"runs": shown, "refused": [s.definition for s in refused]}, 202)
    if refused:
        reasons = "; ".join(s.error or s.definition for s in refused)
        return error_json(422, f"refused before writing: {reasons}", runs=shown)
    if all(s.locked for s in started):
        return error_json(409, "every requested definition's lock is held", runs=shown)
    reasons = "; ".join(f"{s.definition}: {s.error}" for s in started)
    return error_json(500, f"no run started: {reasons}", runs=shown)


def _started(request: Request, started: Started) -> dict[str, Any]:
    root = _console(request).settings.root_path
    return {
        "job": started.job,
        "definition": started.definition,
        "status": started.outcome,
        "id": started.run_id,
        "url": None if started.run_id is None else f"{root}/runs/{started.run_id}",
        "error": started.error,
    }


async def health(request: Request) -> Response:
    found = await run_in_threadpool(check_health, _console(request).urls)
    return json_response(found.as_dict(), 200 if found.ok else 503)


async def live(request: Request) -> Response:
    return json_response({"status": "ok"})


async def metrics(request: Request) -> Response:
    text = await run_in_threadpool(generate_latest, _console(request).registry)
    return Response(text, media_type=CONTENT_TYPE_LATEST)
