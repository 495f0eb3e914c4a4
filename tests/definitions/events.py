"""``events`` by either cursor kind: a timestamptz filled by now(), and a bigserial.

``TEST_BATCH_SIZE`` (default 1000) sets both batch sizes.
"""

from __future__ import annotations

import os

from definitions import events

BATCH_SIZE = int(os.environ.get("TEST_BATCH_SIZE", "1000"))

DEFINITIONS = {
    "EventsByTime": events(batch_size=BATCH_SIZE),
    "EventsById": events(source={"cursor": {"field": "id"}}, batch_size=BATCH_SIZE),
}
