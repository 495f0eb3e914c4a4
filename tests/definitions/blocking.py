"""``Events``, whose first row tells the test that the run holds its lock (a file
``started`` in the run's working directory) and then waits for a file ``release``."""

from __future__ import annotations

import time
from pathlib import Path

from definitions import events
from services.base.definition import Row

WORKDIR = Path.cwd()  # the test's tmp dir: dbtools.run_cli runs the CLI there
RELEASE_WAIT_S = 60


def wait_for_release(row: Row) -> Row:
    (WORKDIR / "started").touch()
    deadline = time.monotonic() + RELEASE_WAIT_S
    while not (WORKDIR / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released the run")
        time.sleep(0.02)
    return dict(row)


DEFINITIONS = {"Events": events(transform=wait_for_release)}
