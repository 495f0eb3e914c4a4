"""``Events`` in batches of 20: batch 1 (p1..p20) commits, batch 2 stops at p30.

At p30 the transform writes ``started`` in the run's working directory and
waits for ``release`` there; once ``resumed`` exists it no longer stops.
"""

from __future__ import annotations

import time
from pathlib import Path

from definitions import events
from services.base.definition import Row

WORKDIR = Path.cwd()  # the test's tmp dir: dbtools.run_cli runs the CLI there
RELEASE_WAIT_S = 60


def block_on_p30(row: Row) -> Row:
    if row["payload"] == "p30" and not (WORKDIR / "resumed").exists():
        (WORKDIR / "started").touch()
        deadline = time.monotonic() + RELEASE_WAIT_S
        while not (WORKDIR / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return dict(row)


DEFINITIONS = {"Events": events(transform=block_on_p30, batch_size=20)}
