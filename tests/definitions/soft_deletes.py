"""Soft deletes (docs/deletes.md) of core ``items`` and ``changes``, for tests/test_soft_deletes.py.

- ``ByTime``: ``items`` as they are, deleted when ``deletedAt`` is not NULL.
- ``ByFlag``: the same rows into ``items_flag``, deleted when the boolean ``gone`` is true.
- ``Renamed``: through a transform that renames the key (``old_id``); ``deletedAt`` flags,
  and a row whose ``v`` is ``purge`` makes the transform return ``Delete``.
- ``WrongDelete``: as ``Renamed``, but its ``Delete`` names a column that is not the key.
- ``Changes``: a log of changes to keys (``key`` repeats, ``seq`` is the tie-breaker),
  folded into one row per key through a transform; ``gone`` flags.
- ``ChangesCopied``: the same log copied as it is onto the key ``key`` (no transform).
"""

from __future__ import annotations

from services import Delete, ExportDefinition
from services.base.definition import Row, Transform

BATCH_SIZE = 4

ITEMS_CORE = """
CREATE TABLE items (
  id int PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  v text,
  "deletedAt" timestamptz,
  gone boolean
);
CREATE TABLE changes (
  seq bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  key int NOT NULL,
  v text,
  gone boolean NOT NULL DEFAULT false
)"""
_ITEMS = '(id int PRIMARY KEY, at timestamptz, v text, "deletedAt" timestamptz, gone boolean)'
ITEMS_ANALYTICS = f"""
CREATE TABLE analytics_raw.items {_ITEMS};
CREATE TABLE analytics_raw.items_flag {_ITEMS};
CREATE TABLE analytics_raw.items_renamed (old_id int PRIMARY KEY, v text);
CREATE TABLE analytics_raw.changes_state (key int PRIMARY KEY, v text);
CREATE TABLE analytics_raw.changes_copied (
  seq bigint, at timestamptz, key int PRIMARY KEY, v text, gone boolean
)"""


def renamed(row: Row) -> Row | Delete:
    if row["v"] == "purge":
        return Delete(old_id=row["id"])
    return {"old_id": row["id"], "v": row["v"]}


def wrong_delete(row: Row) -> Row | Delete:
    if row["v"] == "purge":
        return Delete(id=row["id"])  # the key is old_id
    return {"old_id": row["id"], "v": row["v"]}


def folded(row: Row) -> Row:
    return {"key": row["key"], "v": row["v"]}


def _items(
    table: str, flag: str, *, keys: tuple[str, ...] = ("id",), transform: Transform | None = None
) -> ExportDefinition:
    return ExportDefinition(
        source={
            "table": "items",
            "cursor": {"field": "at", "id_field": "id"},
            "soft_delete": {"field": flag},
        },
        destination={"table": table, "conflict_columns": list(keys)},
        batch_size=BATCH_SIZE,
        transform=transform,
    )


def _changes(table: str, *, transform: Transform | None = None) -> ExportDefinition:
    return ExportDefinition(
        source={
            "table": "changes",
            "cursor": {"field": "at", "id_field": "seq"},
            "soft_delete": {"field": "gone"},
        },
        destination={"table": table, "conflict_columns": ["key"]},
        batch_size=BATCH_SIZE,
        transform=transform,
    )


DEFINITIONS = {
    "ByTime": _items("items", "deletedAt"),
    "ByFlag": _items("items_flag", "gone"),
    "Renamed": _items("items_renamed", "deletedAt", keys=("old_id",), transform=renamed),
    "WrongDelete": _items("items_renamed", "deletedAt", keys=("old_id",), transform=wrong_delete),
    "Changes": _changes("changes_state", transform=folded),
    "ChangesCopied": _changes("changes_copied"),
}
