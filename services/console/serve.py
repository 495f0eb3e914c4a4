"""``python run_job.py serve``: the console on uvicorn until SIGTERM or Ctrl-C.

A signal is the console's normal end of service (as Kubernetes, systemd or a person at
a terminal stops it), not a failure: uvicorn finishes the open requests, the runs the
console started are stopped, and the command exits 0 with no ``error:`` line.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from services.base import SIGNALS, DatabaseUrls, signal_name
from services.console.catalog import Catalog, Loader
from services.console.settings import console_settings

log = logging.getLogger(__name__)
# Seconds uvicorn lets open requests finish once asked to stop; the runs then get theirs.
GRACEFUL_S = 5


def serve(host: str, port: int, loaders: Mapping[str, Loader]) -> None:
    """Serve the console for every job of ``loaders`` (job -> its definitions' loader).

    ConfigurationError (exit 2) before listening when the address needs a token it lacks,
    a variable is wrong or a definition is invalid.
    """
    import uvicorn

    from services.console.app import build_app, make_console

    # The one read of the environment: the console's settings and the runs it starts.
    settings = console_settings(host, port, environ=os.environ)
    urls = DatabaseUrls.from_env(os.environ)
    console = make_console(settings, urls, Catalog.load(loaders), os.environ)
    shown = f"[{host}]" if ":" in host else host
    access = "read-only (no TABLESYNC_API_TOKEN)" if settings.read_only else "token required"
    log.info("console on http://%s:%d%s/ (%s)", shown, port, settings.root_path, access)
    config = uvicorn.Config(
        build_app(console),
        host=host,
        port=port,
        root_path=settings.root_path,
        log_config=None,  # tablesync's own logging (text or JSON lines) formats uvicorn's too
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_S,
        lifespan="on",
    )
    with _signals_end_service() as caught:
        uvicorn.Server(config).run()
    if caught:
        log.info("console stopped by %s", signal_name(caught[0]))


@contextmanager
def _signals_end_service() -> Iterator[list[int]]:
    """While uvicorn serves, the handlers it restores and re-raises its captured signal
    into only note the signal (instead of tablesync's, which would make it a stopped
    run's exit 130/143); the handlers are tablesync's again afterwards."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught  # signals are the main thread's alone: nothing to take over
        return
    previous = {signum: signal.signal(signum, lambda n, _: caught.append(n)) for signum in SIGNALS}
    try:
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
