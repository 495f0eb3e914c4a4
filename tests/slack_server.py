"""A local stand-in for Slack that the real slack-sdk clients (and the CLI) can post to.

It records every request and answers as its ``mode`` says: ``ok``, ``500``,
``invalid_auth`` or ``429-then-ok``. Shared by the notification and CLI reporting tests.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.reporting.notify import SlackSettings

BOT_TOKEN = "xoxb-1111-2222-notarealtoken"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: str

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class SlackServer:
    """A local stand-in for Slack: records requests, answers as ``mode`` says."""

    port: int
    mode: str = "ok"  # ok | 500 | invalid_auth | 429-then-ok
    requests: list[Recorded] = field(default_factory=list)

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/hookpath"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def webhook(self, notify_on: str = "failures") -> SlackSettings:
        return SlackSettings(webhook_url=self.webhook_url, notify_on=notify_on)  # type: ignore[arg-type]

    def web_api(self, notify_on: str = "failures") -> SlackSettings:
        return SlackSettings(
            bot_token=BOT_TOKEN,
            channel="#data-alerts",
            notify_on=notify_on,  # type: ignore[arg-type]
            api_base_url=self.api_url,
        )


def _handler_for(server: SlackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            server.requests.append(Recorded(self.path, dict(self.headers.items()), body))
            api = self.path.startswith("/api/")
            if server.mode == "500":
                self._answer(500, "text/plain", "internal error")
            elif server.mode == "429-then-ok" and len(server.requests) == 1:
                self._answer(429, "text/plain", "rate_limited", {"Retry-After": "0"})
            elif server.mode == "invalid_auth" and api:
                self._answer(200, "application/json", '{"ok": false, "error": "invalid_auth"}')
            elif server.mode == "invalid_auth":
                self._answer(403, "text/plain", "invalid_token")
            elif api:
                self._answer(200, "application/json", '{"ok": true, "ts": "1.000"}')
            else:
                self._answer(200, "text/plain", "ok")

        def _answer(
            self, status: int, ctype: str, body: str, headers: dict[str, str] | None = None
        ) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass  # keep test output quiet

    return Handler


@contextmanager
def serve_slack() -> Iterator[SlackServer]:
    """A SlackServer listening on a free local port until the block ends."""
    state = SlackServer(port=0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    state.port = httpd.server_address[1]
    # A short poll interval keeps shutdown (and so each test) fast.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def free_port() -> int:
    """A port on which nothing listens: bound once to pick it, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
