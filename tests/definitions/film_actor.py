"""core ``film_actor`` (a two-column primary key, as in the DVD-rental sample schema),
for tests/test_tie_breakers.py: the tie-breaker of one column that does not make
``(last_update, actor_id)`` unique, the one of both key columns that does, and none."""

from __future__ import annotations

from typing import Any

from services import ExportDefinition

BATCH_SIZE = 10


def film_actor(id_field: Any, *, table: str = "film_actor") -> ExportDefinition:
    return ExportDefinition(
        source={"table": table, "cursor": {"field": "last_update", "id_field": id_field}},
        destination={
            "schema": "public",
            "table": "film_actor",
            "conflict_columns": ["actor_id", "film_id"],
        },
        batch_size=BATCH_SIZE,
    )


DEFINITIONS = {
    "ByActor": film_actor("actor_id"),
    "FilmActor": film_actor(["actor_id", "film_id"]),
    "NoTieBreaker": film_actor(None),
    "FromView": film_actor(["actor_id", "film_id"], table="film_actor_view"),
}
