"""``Plain``, and ``Leaky``, whose transform fails with an error message carrying both
connection URLs, password and all: the worst a user's code can do."""

from __future__ import annotations

import os

from definitions import events
from services.base.definition import Row


def leaky(row: Row) -> Row:
    if row["payload"] == "p3":
        raise RuntimeError(
            "cannot reach "
            + os.environ["DATABASE_URL_CORE"]
            + " nor "
            + os.environ["DATABASE_URL_ANALYTICS"]
        )
    return dict(row)


DEFINITIONS = {
    "Plain": events(batch_size=2),
    "Leaky": events(transform=leaky, batch_size=2),
}
