"""``Slow``: table ``t`` in batches of 4, whose transform stalls for 120 s at row 30
after writing its process id to the file ``stalled`` in the run's working directory."""

from __future__ import annotations

import os
import time
from pathlib import Path

from services import ExportDefinition
from services.base.definition import Row

MARK = Path.cwd() / "stalled"  # the test's tmp dir: dbtools.run_cli runs the CLI there
STALL_S = 120


def stall_in_worker(row: Row) -> Row:
    if row["id"] == 30:
        MARK.write_text(str(os.getpid()))
        time.sleep(STALL_S)
    return dict(row)


DEFINITIONS = {
    "Slow": ExportDefinition(
        source={"table": "t", "cursor": {"field": "n", "id_field": "id"}},
        destination={"table": "t", "conflict_columns": ["id"]},
        transform=stall_in_worker,
        batch_size=4,
    ),
}
