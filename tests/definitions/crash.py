"""``Copied`` (COPY to COPY) and ``Transformed`` (through a Python transform) of the
same ``events``, for the SIGKILL harness (tests/test_crash.py)."""

from __future__ import annotations

from definitions import events
from services.base.definition import Row

BATCH_SIZE = 15


def same_row(row: Row) -> Row:
    return dict(row)


DEFINITIONS = {
    "Copied": events(batch_size=BATCH_SIZE),
    "Transformed": events(
        destination={"table": "events_t"}, transform=same_row, batch_size=BATCH_SIZE
    ),
}
