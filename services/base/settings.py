"""Environment: the .env file, required variables, registered secrets."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.base.constants import DEFAULT_ORIGIN
from services.base.errors import ConfigurationError, MissingVariableError, first_line
from services.base.redact import MASK, redact, register_from_environment

CORE_URL_VARIABLE = "DATABASE_URL_CORE"
ORIGIN_VARIABLE = "TABLESYNC_ORIGIN"
# A label, not free text: it is shown on pages and used as a filter.
_ORIGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}")
ANALYTICS_URL_VARIABLE = "DATABASE_URL_ANALYTICS"


def env_number(environ: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    """A tuning variable's number, ``default`` when unset; anything else is exit 2."""
    raw = environ.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigurationError(f"{name}={raw!r} must be a number >= {minimum:g}")
    return value


def read_all(
    environ: Mapping[str, str], readers: Mapping[str, Callable[[Mapping[str, str]], Any]]
) -> dict[str, Any]:
    """Each reader's value by name; the problems of every reader that refused, together in
    one ConfigurationError (one line each), so a person fixes them all in one go."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, read in readers.items():
        try:
            values[name] = read(environ)
        except ConfigurationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigurationError("; ".join(problems), problems=problems)
    return values


def env_count(environ: Mapping[str, str], name: str, default: int) -> int:
    """A tuning variable's whole number >= 0, ``default`` when unset; anything else is exit 2."""
    value = env_number(environ, name, default, minimum=0)
    if value != int(value):
        raise ConfigurationError(f"{name}={value!r} must be a whole number")
    return int(value)


def run_origin(environ: Mapping[str, str]) -> str:
    """Where runs are started from, for their records: TABLESYNC_ORIGIN, else ``cli``.

    The console sets ``console`` for the runs it starts; an operator may set a label of
    their own (``cronjob``). Anything but a short label is exit 2.
    """
    raw = environ.get(ORIGIN_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_ORIGIN
    if not _ORIGIN.fullmatch(raw):
        raise ConfigurationError(
            f"{ORIGIN_VARIABLE}={raw!r} must be a label of at most 63 letters, digits and ._:/-"
        )
    return raw


def load_dotenv_file(
    path: Path | None = None, environ: MutableMapping[str, str] | None = None
) -> None:
    """Read ``.env`` from the working directory when present; variables already set win."""
    environ = os.environ if environ is None else environ
    path = path or Path.cwd() / ".env"
    if path.is_file():
        from dotenv import dotenv_values  # only paid for when a .env exists

        for key, value in dotenv_values(path).items():
            if value is not None and key not in environ:
                environ[key] = value
    register_from_environment(environ)


@dataclass(frozen=True)
class DatabaseUrls:
    """The two connection URLs a sync needs."""

    core: str
    analytics: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DatabaseUrls:
        missing = [v for v in (CORE_URL_VARIABLE, ANALYTICS_URL_VARIABLE) if not environ.get(v)]
        if missing:
            problems = [
                f"{name} is not set: export it or put it in .env (see .env.example)"
                for name in missing
            ]
            raise MissingVariableError("; ".join(problems), problems=problems)
        urls = cls(core=environ[CORE_URL_VARIABLE], analytics=environ[ANALYTICS_URL_VARIABLE])
        named = ((CORE_URL_VARIABLE, urls.core), (ANALYTICS_URL_VARIABLE, urls.analytics))
        refused = [
            problem
            for name, url in named
            if (problem := connection_string_problem(name, url)) is not None
        ]
        if refused:
            raise ConfigurationError("; ".join(refused), problems=refused)
        return urls


_QUOTED = re.compile(r'"([^"]*)"')


def _masked_fragments(reason: str, url: str) -> str:
    """libpq's reason for refusing ``url`` with each fragment it quotes masked, unless the
    fragment is a keyword the string sets (``bogus=``): anything else may be a password."""

    def shown(match: re.Match[str]) -> str:
        word = match.group(1)
        keyword = word.isidentifier() and re.search(rf"(^|[\s?&]){word}\s*=", url)
        return match.group(0) if keyword or len(word) < 2 else f'"{MASK}"'

    return _QUOTED.sub(shown, reason)


def connection_string_problem(name: str, url: str) -> str | None:
    """Why libpq refuses ``url`` as a connection string, without quoting any of it; None
    when it parses. Values (a port, an sslmode) are checked when connecting."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except (ProgrammingError, ValueError) as exc:
        reason = redact(_masked_fragments(first_line(exc), url))
        return (
            f"{name} is not a connection string libpq accepts: {reason}; expected a"
            " postgresql:// URL or key=value pairs (host=... dbname=...)"
        )
    return None
