"""SQL transforms (docs/select.md) over core ``items``, for tests/test_select.py.

- ``Items``: every row through a select that renames, computes and casts.
- ``ItemsWhere``: the same select, only the rows whose kind is not 'toy' (source.where).
- ``ItemsSoft``: as ``ItemsWhere``, and ``deletedAt`` flags a row deleted.
- ``ItemsText``: as ``Items``, ``cents`` an integer: its values go through text.
- ``ItemsPython``: the select as a Python transform, with ``ItemsWhere``'s where.
- ``BadCompile``: an expression naming a column core does not have.
- ``BadType``: an expression whose type the destination column cannot take.
- ``Writer``: an expression calling a core function that writes.
- ``Breakout``: an expression that turns the session's read-only default off, and one
  that writes once it is off.
"""

from __future__ import annotations

from typing import Any

from services import ExportDefinition, build_definitions

CORE = """
CREATE TABLE items (
  id int PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  name text,
  kind text,
  price numeric(10, 2),
  "deletedAt" timestamptz
);
CREATE INDEX items_at_id ON items (at, id);
CREATE TABLE audit (id int);
CREATE FUNCTION log_it(n int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit VALUES (n);
  RETURN n;
END $$"""
_OUT = (
    "(item_id int PRIMARY KEY, at timestamptz, label text, is_book boolean NOT NULL, cents bigint)"
)
ANALYTICS = f"""
CREATE TABLE analytics_raw.items_out {_OUT};
CREATE TABLE analytics_raw.items_where {_OUT};
CREATE TABLE analytics_raw.items_soft {_OUT};
CREATE TABLE analytics_raw.items_bad {_OUT};
CREATE TABLE analytics_raw.items_text {_OUT};
CREATE TABLE analytics_raw.items_py {_OUT}"""

SELECT = {
    "item_id": '"id"',
    "at": "at",
    "label": "upper(name) || ' (' || coalesce(kind, '?') || ')'",
    "is_book": "kind IS NOT DISTINCT FROM 'book'",
    "cents": "(price * 100)::bigint",
}
NOT_TOYS = "kind <> 'toy'"
BATCH_SIZE = 4


def python_select(row: dict[str, Any]) -> dict[str, Any]:
    """SELECT in Python."""
    kind = "?" if row["kind"] is None else row["kind"]
    label = None if row["name"] is None else f"{row['name'].upper()} ({kind})"
    cents = None if row["price"] is None else int(row["price"] * 100)
    return {
        "item_id": row["id"],
        "at": row["at"],
        "label": label,
        "is_book": row["kind"] == "book",
        "cents": cents,
    }


def items(dest: str, *, where: str | None = None, **changes: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"table": "items", "cursor": {"field": "at", "id_field": "id"}}
    if where is not None:
        source["where"] = where
    source.update(changes.pop("source", {}))
    return {
        "source": source,
        "destination": {"table": dest, "conflict_columns": ["item_id"]},
        "select": {**SELECT, **changes.pop("select", {})},
        "batch_size": BATCH_SIZE,
        **changes,
    }


DEFINITIONS: dict[str, ExportDefinition] = build_definitions(
    {
        "Items": items("items_out"),
        "ItemsWhere": items("items_where", where=NOT_TOYS),
        "ItemsSoft": items(
            "items_soft", where=NOT_TOYS, source={"soft_delete": {"field": "deletedAt"}}
        ),
        "ItemsText": items("items_text", select={"cents": "(price * 100)::int"}),
        "ItemsPython": {
            "source": {
                "table": "items",
                "cursor": {"field": "at", "id_field": "id"},
                "where": NOT_TOYS,
            },
            "destination": {"table": "items_py", "conflict_columns": ["item_id"]},
            "transform": python_select,
            "batch_size": BATCH_SIZE,
        },
        "BadCompile": items("items_bad", select={"label": "upper(nme)"}),
        "BadType": items("items_bad", select={"cents": "name"}),
        "Writer": items("items_bad", select={"cents": "log_it(id)::bigint"}),
        "Breakout": items(
            "items_bad",
            select={
                "label": "set_config('default_transaction_read_only', 'off', false)",
                "cents": "CASE WHEN current_setting('transaction_read_only') = 'off'"
                " THEN log_it(id) END",
            },
        ),
    }
)
