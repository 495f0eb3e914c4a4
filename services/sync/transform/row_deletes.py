"""Which of a batch's transformed rows delete their key (rule 14: a soft-delete flag, or a
transform's ``Delete``), and the keys deleted by value; the transform loop
(services/sync/transform/transform_loop.py) keeps one per batch."""

from __future__ import annotations

from typing import Any

from services.base import Delete
from services.sync.rows import FastPathRefused, row_error


class RowDeletes:
    """Which transformed rows of a batch delete their key, and the keys deleted by value.

    A row deletes when its soft-delete flag is set (the transform's output names
    the key) or the transform returned ``Delete``. Straight into the destination,
    and in staging for a Delete before the batch's columns are known, the key is
    deleted by value once the batch's rows are written; a key written again
    after such a delete in the same batch would then be deleted wrongly, so the
    straight path refuses the batch (FastPathRefused) and staging, which keeps
    cursor order, takes it.
    """

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.by_value: list[tuple[Any, ...]] = []
        self._deleted: set[tuple[Any, ...]] = set()
        self.count = 0  # rows that asked to delete, staged or by value
        self.by_value_rows = 0

    def marker_key(self, marker: Delete, at: Any) -> tuple[Any, ...]:
        """The key a transform's Delete names; RowError unless it names the conflict columns."""
        wrong = sorted(set(marker.key) ^ set(self.keys))
        if wrong:
            raise row_error(
                f"transform returned {marker!r}: a Delete names exactly the conflict columns"
                f" ({', '.join(self.keys)}), not {', '.join(wrong)}",
                at,
            )
        self.count += 1
        return tuple(marker.key[k] for k in self.keys)

    def flagged_key(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The key of a soft-deleted row, as its transformed output names it."""
        self.count += 1
        return tuple(row.get(k) for k in self.keys)

    def delete_by_value(self, key: tuple[Any, ...]) -> None:
        self.by_value_rows += 1
        if None not in key:  # a NULL key matches no row: nothing to delete
            self.by_value.append(key)
            self._deleted.add(key)

    def check_written(self, row: dict[str, Any]) -> None:
        """FastPathRefused when ``row`` writes a key this batch deleted by value before."""
        if self._deleted and tuple(row.get(k) for k in self.keys) in self._deleted:
            raise FastPathRefused("a key deleted and written again in one batch")

    def staged_row(self, marker: Delete, columns: list[str]) -> list[Any]:
        """A Delete as a staging row: its key, NULL elsewhere."""
        return [marker.key.get(c) for c in columns]
