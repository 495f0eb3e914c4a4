"""core ``customer`` with a nullable cursor (``last_update``, as in the DVD-rental sample
schema), for tests/test_null_cursor_keys.py: copied as it is (its key hashed on each
server), through a transform that computes the key (checked through the transform),
and keyed on two columns (hashed range by range)."""

from __future__ import annotations

from services import ExportDefinition
from services.base.definition import Row


def renamed(row: Row) -> Row:
    return {"id": row["customer_id"], "store_id": row["store_id"], "name": row["name"]}


def customer(**fields: object) -> ExportDefinition:
    return ExportDefinition.model_validate(
        {
            "source": {"table": "customer", "cursor": {"field": "last_update"}},
            "destination": {
                "schema": "public",
                "table": "customer",
                "conflict_columns": ["customer_id"],
            },
            **fields,
        }
    )


DEFINITIONS = {
    "Customer": customer(),
    "CustomerT": customer(
        destination={"schema": "public", "table": "customer_t", "conflict_columns": ["id"]},
        transform=renamed,
    ),
    "CustomerPair": customer(
        destination={
            "schema": "public",
            "table": "customer",
            "conflict_columns": ["store_id", "customer_id"],
        }
    ),
}
