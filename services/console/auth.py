"""Who may do what: the one place the console decides it.

With ``TABLESYNC_API_TOKEN`` set, API clients send ``Authorization: Bearer <token>`` and
browsers sign in once with it, getting a signed, HttpOnly, SameSite=Strict session
cookie; every write from a browser also carries the session's CSRF token. Without a
token the console is read-only. Every comparison of secrets is constant-time.

The cookie holds no secret: a random nonce, whether it is signed in, when it was issued,
and an HMAC of those under a key derived from the token (so a new token ends every
session). The CSRF token is an HMAC of the nonce, so it is worthless without its cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

SESSION_COOKIE = "tablesync_session"
SESSION_MAX_AGE_S = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_KEY_CONTEXT = b"tablesync console session v1"


class Need(Enum):
    """What a route asks of its caller."""

    OPEN = "open"  # health, metrics, static files, the sign-in form
    READ = "read"  # pages and GET routes of the API
    WRITE = "write"  # anything that starts runs or signs out


@dataclass(frozen=True)
class Session:
    """A browser's session: anonymous (before sign-in, for the form's CSRF) or signed in."""

    nonce: str
    signed_in: bool
    issued_at: int


@dataclass(frozen=True)
class Caller:
    """What a request brought: its bearer header, its session, the CSRF token it sent."""

    bearer: str | None
    session: Session | None
    csrf: str | None


@dataclass(frozen=True)
class Decision:
    """``allowed``, or the HTTP status and reason to refuse with."""

    allowed: bool
    status: int = 200
    reason: str = ""


ALLOW = Decision(True)


class Auth:
    """The console's token and the cookies and CSRF tokens derived from it."""

    def __init__(self, token: str | None, *, clock: Callable[[], float] = time.time) -> None:
        self._token = token.encode() if token else None
        self._key = (
            hmac.new(token.encode(), _KEY_CONTEXT, hashlib.sha256).digest() if token else b""
        )
        self._clock = clock

    @property
    def read_only(self) -> bool:
        return self._token is None

    def token_matches(self, given: str | None) -> bool:
        """Whether ``given`` is the token (constant-time; False without a token)."""
        if self._token is None or not given:
            return False
        return hmac.compare_digest(given.strip().encode(), self._token)

    def new_session(self, *, signed_in: bool) -> Session:
        return Session(secrets.token_urlsafe(18), signed_in, int(self._clock()))

    def _sign(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def cookie_value(self, session: Session) -> str:
        body = f"{session.nonce}.{int(session.signed_in)}.{session.issued_at}"
        return f"{body}.{self._sign(body)}"

    def session_from(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, or None when absent, forged or expired."""
        if self._token is None or not cookie or cookie.count(".") != 3:
            return None
        body, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            return None
        nonce, signed_in, issued = body.split(".")
        if not issued.isdigit() or self._clock() - int(issued) > SESSION_MAX_AGE_S:
            return None
        return Session(nonce, signed_in == "1", int(issued))

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf:{session.nonce}")

    def csrf_matches(self, session: Session | None, given: str | None) -> bool:
        if session is None or not given:
            return False
        return hmac.compare_digest(given.encode(), self.csrf_token(session).encode())

    def decide(self, need: Need, caller: Caller) -> Decision:
        """May ``caller`` do what a route of ``need`` does? Refusals: 401 (who are you?),
        403 (read-only console, or a browser write without its CSRF token)."""
        if need is Need.OPEN:
            return ALLOW
        if self.read_only:
            if need is Need.WRITE:
                return Decision(
                    False, 403, "the console is read-only: TABLESYNC_API_TOKEN is not set"
                )
            return ALLOW
        if caller.bearer is not None:
            if self.token_matches(caller.bearer):
                return ALLOW  # a bearer header is never sent by a browser on its own: no CSRF
            return Decision(False, 401, "wrong token")
        if caller.session is None or not caller.session.signed_in:
            return Decision(False, 401, "sign in, or send Authorization: Bearer <token>")
        if need is Need.WRITE and not self.csrf_matches(caller.session, caller.csrf):
            return Decision(False, 403, "missing or wrong CSRF token: reload the page and retry")
        return ALLOW


def bearer_of(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; "" for another scheme."""
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
