"""``Events``, through a transform a test can make fail or block on cue.

A payload ``boom`` raises (its message echoes the core URL, as careless driver
errors do: the password must be masked); ``skip...`` is skipped; the payload
named by ``TEST_BLOCK_AT`` blocks, after writing the file ``TEST_BLOCKED_FLAG``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from definitions import events
from services.base.definition import Row

BLOCK_S = 600


def events_row(row: Row) -> Row | None:
    if row["payload"] == os.environ.get("TEST_BLOCK_AT"):
        Path(os.environ["TEST_BLOCKED_FLAG"]).write_text("blocked")
        time.sleep(BLOCK_S)
    if row["payload"] == "boom":
        raise ValueError("payload says boom; core is " + os.environ["DATABASE_URL_CORE"])
    if row["payload"].startswith("skip"):
        return None
    return row


DEFINITIONS = {"Events": events(transform=events_row, batch_size=10)}
