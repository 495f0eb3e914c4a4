"""``--follow``'s tests (tests/test_follow.py): ``events`` copied as it is, a second copy
into ``events_t``, and one whose transform fails on a row while ``fail-now`` exists in
the run's working directory (the test's tmp dir), held at row p35 while ``hold-now``
exists; two with a ``schedule`` for ``serve``."""

from __future__ import annotations

import time
from pathlib import Path

from definitions import events
from services.base.definition import Row

WORKDIR = Path.cwd()
BATCH_SIZE = 10


def failing_while_told(row: Row) -> Row:
    """Rows unchanged; raises while ``fail-now`` exists (a bad row the operator fixes)."""
    if (WORKDIR / "fail-now").exists():
        raise ValueError("told to fail")
    return dict(row)


def held_at_p35(row: Row) -> Row:
    """Rows unchanged; row p35 waits while ``hold-now`` exists (written ``held`` first)."""
    if row["payload"] == "p35":
        (WORKDIR / "held").write_text("1")
        deadline = time.monotonic() + 60
        while (WORKDIR / "hold-now").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return dict(row)


DEFINITIONS = {
    "Copied": events(batch_size=BATCH_SIZE),
    "CopiedToo": events(destination={"table": "events_t"}, batch_size=BATCH_SIZE),
    "Flaky": events(
        destination={"table": "events_t"},
        transform=failing_while_told,
        transform_workers=0,
        batch_size=BATCH_SIZE,
    ),
    "Held": events(transform=held_at_p35, transform_workers=0, batch_size=BATCH_SIZE),
    # Run by `serve` (tests/test_schedules.py): every 3 s, and once a year (long past).
    "Scheduled": events(destination={"table": "events_s"}, schedule="every 3s"),
    "Yearly": events(schedule="0 0 1 1 *"),
}
