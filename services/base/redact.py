"""Keep passwords and tokens out of every message tablesync writes.

Secrets are registered once (from the environment's URLs and tokens) and
``redact`` replaces each with ``***`` wherever it appears, so a driver's
error that echoes a connection string cannot leak one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

MASK = "***"
SECRET_VARIABLES = (
    "DATABASE_URL_CORE",
    "DATABASE_URL_ANALYTICS",
    "SLACK_WEBHOOK_URL",
    "SLACK_BOT_TOKEN",
    "TEST_DATABASE_URL",
    "PGPASSWORD",  # libpq reads it when a URL carries no password
    "TABLESYNC_API_TOKEN",  # the console's token (python run_job.py serve)
)
# user:password@ inside any URL, even one we were never told about.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?=@)", re.I)
_PASSWORD_PARAM = re.compile(r"(?P<key>password\s*=\s*)(?P<pw>'[^']*'|\S+)", re.I)
# password=... as written in a key=value string or a URL's query, before any unquoting.
_RAW_PASSWORD = re.compile(r"(?:^|[\s?&])password\s*=\s*(?P<pw>'(?:[^'\\]|\\.)*'|[^\s&]+)", re.I)
_SLACK_TOKEN = re.compile(r"xox[abprs]-[A-Za-z0-9\-]+")
_SLACK_HOOK_PATH = re.compile(r"(hooks\.slack\.com/services/)\S+")

_secrets: set[str] = set()


def secrets_in_url(url: str) -> list[str]:
    """What to mask of a connection string: its password in every form the driver
    accepts (URL user info, ``?password=``, ``password=`` pairs, quoted or not), raw
    and decoded; a string the driver refuses is masked whole, and word by word."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        parsed = conninfo_to_dict(url).get("password")
    except (ProgrammingError, ValueError):
        # Nothing in a refused string can be told apart from its password.
        return [url, *url.split()]
    found = [parsed] if isinstance(parsed, str) and parsed else []
    try:
        password = urlsplit(url).password if "://" in url else None
    except ValueError:
        password = None
    if password:
        found += [password, unquote(password)]
    for match in _RAW_PASSWORD.finditer(url):
        raw = match.group("pw")
        found += [raw, raw.strip("'"), unquote(raw)]
    return found


def register_secret(value: str | None) -> None:
    """Remember a value that must never be printed."""
    if value and len(value) >= 3:
        _secrets.add(value)


def register_from_environment(environ: Mapping[str, str]) -> None:
    """Register the passwords and tokens found in the known variables."""
    for name in SECRET_VARIABLES:
        value = environ.get(name)
        if not value:
            continue
        if name.startswith("DATABASE_URL") or name == "TEST_DATABASE_URL":
            for secret in secrets_in_url(value):
                register_secret(secret)
        else:
            register_secret(value)


def redact(text: object, extra: Iterable[str] = ()) -> str:
    """``text`` as a string with every known secret and URL password masked."""
    out = str(text)
    for secret in sorted({*_secrets, *(e for e in extra if e)}, key=len, reverse=True):
        out = out.replace(secret, MASK)
    out = _URL_PASSWORD.sub(lambda m: m.group("scheme") + MASK, out)
    out = _PASSWORD_PARAM.sub(lambda m: m.group("key") + MASK, out)
    out = _SLACK_TOKEN.sub(MASK, out)
    return _SLACK_HOOK_PATH.sub(lambda m: m.group(1) + MASK, out)
