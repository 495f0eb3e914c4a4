"""Templates: Jinja2 with autoescaping on, every value redacted on its way out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from services.base import IdField, format_duration, named_key, redact
from services.console import charts
from services.console.auth import CSRF_FIELD
from services.console.views import duration_s, lag_at_end
from services.reporting import format_position

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
NONE = "-"


def _finalize(value: Any) -> Any:
    # Whatever a template prints passes here first: no secret reaches a page.
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value  # a macro's output: its own values came through here already
    return redact(value) if isinstance(value, str) else value


def when(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """``2026-12-01 10:00:00Z (5m ago)``, or ``(in 5m)`` for a time to come."""
    if value is None:
        return NONE
    now = now or dt.datetime.now(dt.UTC)
    age_s = (now - value).total_seconds()
    shown = f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}Z"
    if age_s < 0:
        return f"{shown} (in {format_duration(-age_s)})"
    return f"{shown} ({format_duration(age_s)} ago)"


def ago(value: dt.datetime | None, now: dt.datetime | None = None) -> Markup:
    """``when`` in a <time> the page's script keeps current ("2s ago" becomes "3s ago")."""
    if value is None:
        return Markup(NONE)
    stamp = f"{value.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S}Z"
    return Markup('<time datetime="{}" data-ago>{}</time>').format(stamp, when(value, now))


def plural(word: str, count: int | float | None) -> str:
    """``row`` for one, ``rows`` for any other number."""
    return word if count == 1 else word + "s"


def counted(count: int | None, word: str) -> str:
    """``1 row``, ``2 definitions``, ``12,000 rows``."""
    return f"{number(count)} {plural(word, count)}"


def whole(value: float | None) -> str:
    """``41,200``: a rate or a count rounded to a whole number."""
    return NONE if value is None else f"{value:,.0f}"


def seconds(value: float | None) -> str:
    if value is None:
        return NONE
    return f"{value:.2f}s" if value < 60 else format_duration(value)


def number(value: int | float | None) -> str:
    return NONE if value is None else f"{value:,}"


def position(
    value: Mapping[str, Any] | None, cursor: str = "value", id_field: IdField = None
) -> str:
    """A stored position ``{"value", "id"}`` as ``updatedAt=... id=...``."""
    if not value or value.get("value") is None:
        return format_position(None)
    return format_position(named_key(cursor, id_field, value.get("value"), value.get("id")))


def path_segment(value: str) -> str:
    """``value`` quoted as one segment of a URL path ("/" included)."""
    return quote(value, safe="")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        ago=ago,
        plural=plural,
        counted=counted,
        number0=whole,
        seconds=seconds,
        number=number,
        position=position,
        segment=path_segment,
    )
    env.globals.update(
        charts=charts, duration_s=duration_s, lag_at_end=lag_at_end, format_duration=format_duration
    )
    return env


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Template ``name`` with the page's common context (console, session, CSRF, paths)."""
    console = request.app.state.console
    session = getattr(request.state, "session", None)
    csrf = console.auth.csrf_token(session) if session is not None else ""
    common = {
        "base": console.settings.root_path,
        "read_only": console.auth.read_only,
        "signed_in": session is not None and session.signed_in,
        "csrf_field": CSRF_FIELD,
        "csrf": csrf,
        "path": request.url.path,
    }
    html = console.templates.get_template(name).render(**common, **context)
    return HTMLResponse(html, status)
