"""Rule 13's tests (tests/test_stop.py): ``events`` copied (twice), and transformed by a
transform that holds row p35 (batch 4) until the run is stopped, in a worker or in the
runner; it writes ``started-<tag>`` (its pid) in the run's working directory first."""

from __future__ import annotations

import os
import time
from pathlib import Path

from definitions import events
from services.base.definition import Row, Transform

WORKDIR = Path.cwd()  # the test's tmp dir: dbtools.run_cli runs the CLI there
BATCH_SIZE = 10
HOLD_S = 60


def holding(tag: str) -> Transform:
    """Rows unchanged; row p35 waits (until the test writes ``rerun``)."""

    def transform(row: Row) -> Row:
        if row["payload"] == "p35" and not (WORKDIR / "rerun").exists():
            (WORKDIR / f"started-{tag}").write_text(str(os.getpid()))
            deadline = time.monotonic() + HOLD_S
            while time.monotonic() < deadline:
                time.sleep(0.02)
        return dict(row)

    return transform


DEFINITIONS = {
    "Copied": events(batch_size=BATCH_SIZE),
    "CopiedToo": events(destination={"table": "events_t"}, batch_size=BATCH_SIZE),
    "Held": events(
        destination={"table": "events_t"},
        transform=holding("workers"),
        transform_workers=2,
        batch_size=BATCH_SIZE,
    ),
    "HeldSerial": events(
        destination={"table": "events_t"},
        transform=holding("serial"),
        transform_workers=0,
        batch_size=BATCH_SIZE,
    ),
}
