"""The soak test (tests/test_soak.py): core ``events`` by a timestamptz cursor and core
``ledger`` by a bigserial one, each into its analytics table of the same name."""

from __future__ import annotations

from services import ExportDefinition

BATCH_SIZE = 200

DEFINITIONS = {
    "ByTime": ExportDefinition(
        source={"table": "events", "cursor": {"field": "at", "id_field": "id"}},
        destination={"table": "events", "conflict_columns": ["id"]},
        batch_size=BATCH_SIZE,
    ),
    "BySerial": ExportDefinition(
        source={"table": "ledger", "cursor": {"field": "id"}},
        destination={"table": "ledger", "conflict_columns": ["id"]},
        batch_size=BATCH_SIZE,
    ),
}
