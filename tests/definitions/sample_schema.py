"""The rental shop of tests/sample_schema (modelled on the DVD-rental sample), one
definition per table, as a new user writes them: cursor ``last_update``, the primary key
as tie-breaker and conflict key, every column; for tests/test_sample_schema.py.

``FilmActorByActor`` is the tie-breaker the issue's user wrote first for a two-column
key (one of its columns): it does not make ``(last_update, actor_id)`` unique.
"""

from __future__ import annotations

from services import ExportDefinition

BATCH_SIZE = 100
# table -> its primary key, in order (the tie-breaker and the conflict key)
TABLES = {
    "actor": ["actor_id"],
    "category": ["category_id"],
    "language": ["language_id"],
    "film": ["film_id"],
    "film_actor": ["actor_id", "film_id"],
    "film_category": ["film_id", "category_id"],
    "country": ["country_id"],
    "city": ["city_id"],
    "address": ["address_id"],
    "store": ["store_id"],
    "staff": ["staff_id"],
    "customer": ["customer_id"],
    "inventory": ["inventory_id"],
    "rental": ["rental_id"],
    "payment": ["payment_id", "payment_date"],
}


def definition_name(table: str) -> str:
    """``film_actor`` -> ``FilmActor``."""
    return "".join(part.capitalize() for part in table.split("_"))


def rental_shop(table: str, key: list[str]) -> ExportDefinition:
    id_field: str | list[str] = key[0] if len(key) == 1 else key
    return ExportDefinition(
        source={"table": table, "cursor": {"field": "last_update", "id_field": id_field}},
        destination={"table": table, "conflict_columns": key},
        # Two-column keys in batches of ten: one transaction's tie of ~300 rows spans many.
        batch_size=10 if len(key) > 1 else BATCH_SIZE,
    )


DEFINITIONS = {definition_name(table): rental_shop(table, key) for table, key in TABLES.items()}
DEFINITIONS["FilmActorByActor"] = ExportDefinition(
    source={"table": "film_actor", "cursor": {"field": "last_update", "id_field": "actor_id"}},
    destination={"table": "film_actor", "conflict_columns": ["actor_id", "film_id"]},
    batch_size=10,
)
