"""The catalogue of bad input (tests/test_bad_input.py): one good definition, then one per
way a definition can fail, in batches of 5 so a bad row p12 is in batch 3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from definitions import events
from services import ExportDefinition
from services.base.definition import Row, Transform


def _events(**changes: Any) -> ExportDefinition:
    return events(batch_size=5, **changes)


def at_p12(result: Callable[[Row], Any]) -> Transform:
    """Rows pass unchanged, except row p12, which becomes ``result(row)``."""

    def transform(row: Row) -> Any:
        return result(row) if row["payload"] == "p12" else dict(row)

    return transform


def _raise(row: Row) -> Row:
    raise ValueError(f"cannot handle {row['payload']}")


DEFINITIONS = {
    "Good": _events(),
    "NoSourceTable": _events(source={"table": "no_such_table"}),
    "NoCursorColumn": _events(source={"cursor": {"field": "no_such_column"}}),
    "NoDestinationTable": _events(destination={"table": "no_such_table"}),
    "UnknownOutputColumn": _events(transform=lambda row: {**row, "bogus": 1}),
    "NoUniqueIndex": _events(destination={"conflict_columns": ["payload"]}),
    "TooLong": _events(destination={"table": "events_short"}),
    "TransformRaises": _events(transform=at_p12(_raise)),
    "NullKey": _events(transform=at_p12(lambda row: {**row, "id": None})),
    "NotADict": _events(transform=at_p12(lambda row: [row["id"]])),
    "TooLongTransformed": _events(destination={"table": "events_short"}, transform=dict),
}
