"""``Events`` (COPY to COPY), ``EventsT`` (through a transform) and ``EventsById`` (a
cursor that is not a timestamp) of the same ``events``, for tests/test_backfill.py."""

from __future__ import annotations

from definitions import events
from services import ExportDefinition
from services.base.definition import Row

BATCH_SIZE = 50


def same_row(row: Row) -> Row:
    return dict(row)


DEFINITIONS = {
    "Events": events(batch_size=BATCH_SIZE),
    "EventsT": events(
        destination={"table": "events_t", "key_source": {"id": "id"}},
        transform=same_row,
        batch_size=BATCH_SIZE,
    ),
    # No key_source: which source row gives a key is unknown, so no backfill.
    "EventsTUnkeyed": events(
        destination={"table": "events_t"}, transform=same_row, batch_size=BATCH_SIZE
    ),
    # One destination row per payload: source rows share a key.
    "Payloads": ExportDefinition(
        source={
            "table": "events",
            "cursor": {"field": "at", "id_field": "id"},
            "columns": ["payload", "at", "id"],
        },
        destination={"table": "payloads", "conflict_columns": ["payload"]},
        batch_size=BATCH_SIZE,
    ),
    "EventsById": events(source={"cursor": {"field": "id"}}, batch_size=BATCH_SIZE),
}
