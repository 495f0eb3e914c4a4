"""The console's test job: the shipped definitions (for the demo's data), ``Events``
(rows through a transform that ``TEST_ROW_DELAY_S`` slows down; ``TEST_BATCH_SIZE``,
default 10) and a definition named like markup over ``bad_events``, whose transform
fails on a "boom" row with markup in its error. ``EventsCopy`` (COPY, so its first load
is a backfill) and ``EventsSlow`` (slowed like ``Events``) are the progress tests' own;
``SlowFail`` (core ``slow_fail``) fails at its "boom" row, slowed, for a page watched live;
``Droppable``'s destination loses a column by hand.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from definitions import events
from services import ExportDefinition

# This module is loaded *as* jobs.export_to_pg.config: the real one is read by its path.
_CONFIG = Path(__file__).resolve().parents[2] / "jobs" / "export_to_pg" / "config.py"


def _shipped() -> dict[str, ExportDefinition]:
    spec = importlib.util.spec_from_file_location("shipped_export_to_pg_config", _CONFIG)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found: dict[str, ExportDefinition] = module.DEFINITIONS
    return found


XSS_NAME = '<script>alert("name")</script>'


def events_row(row: dict[str, Any]) -> dict[str, Any]:
    if row["payload"] == "boom":
        raise ValueError("transform refused <script>alert('error')</script> in " + row["payload"])
    time.sleep(float(os.environ.get("TEST_ROW_DELAY_S") or 0))
    return row


DEFINITIONS = {
    **_shipped(),
    "Events": events(
        transform=events_row,
        transform_workers=0,
        batch_size=int(os.environ.get("TEST_BATCH_SIZE") or 10),
        max_lag="15m",
    ),
    "EventsCopy": events(destination={"table": "events_copy"}),
    "EventsSlow": events(
        destination={"table": "events_slow"},
        transform=events_row,
        transform_workers=0,
        batch_size=int(os.environ.get("TEST_BATCH_SIZE") or 10),
    ),
    # Its destination loses a column by hand in the browser test of rule 18.
    "Droppable": events(destination={"table": "droppable"}),
    # Fails at its "boom" row after the rows before it, slowed: a run page watched live.
    "SlowFail": events(
        source={"table": "slow_fail"},
        destination={"table": "slow_fail"},
        transform=events_row,
        transform_workers=0,
        batch_size=int(os.environ.get("TEST_BATCH_SIZE") or 10),
    ),
    XSS_NAME: events(
        source={"table": "bad_events", "cursor": {"field": "id"}},
        destination={"table": "bad_events"},
        transform=events_row,
        transform_workers=0,
    ),
}
