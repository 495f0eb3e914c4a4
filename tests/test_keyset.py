"""Incremental batches in one query each (services/sync/read/keyset.py): the batch's end is
read from its last row, never asked for in a query of its own."""

from __future__ import annotations

import pytest
from dbtools import TestDatabases
from synctools import counts_of, definition, on_both, position, sync

from services.store import sql as q
from services.sync.read.keyset import is_row, last_fields_binary, last_fields_text

TS = "2026-01-01 00:00:00+00"


def _table(dbs: TestDatabases) -> None:
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, ts timestamptz, v text)")
    dbs.query_core(
        "INSERT INTO t SELECT g, %s::timestamptz + (g / 3) * interval '1 second', 'v' || g"
        " FROM generate_series(1, 20) g",
        (TS,),
    )


@pytest.mark.parametrize("id_field", ["id", None])
def test_an_incremental_run_never_asks_for_a_batch_end(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch, id_field: str | None
) -> None:
    _table(dbs)
    export = definition("t", "ts", id_field=id_field, batch_size=4)
    sync(dbs, export)
    dbs.query_core("UPDATE t SET ts = now(), v = v || '+' WHERE id % 2 = 0")

    def no_batch_end(*args: object) -> None:
        raise AssertionError("an incremental batch asked for its end in a query")

    monkeypatch.setattr(q, "batch_end", no_batch_end)
    again = sync(dbs, export)

    assert counts_of(again)[:3] == (10, 0, 10)
    core = dbs.query_core("SELECT id, ts::text, v FROM t ORDER BY id")
    assert dbs.query_analytics("SELECT id, ts::text, v FROM t ORDER BY id") == core
    last = dbs.query_core("SELECT ts::text, id::text FROM t ORDER BY ts DESC, id DESC LIMIT 1")
    saved = position(dbs)
    assert saved is not None and saved[0] == last[0][0]


def test_the_last_fields_of_a_copy_row_are_read_in_both_formats() -> None:
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    row = b"\x00\x03" + b"\x00\x00\x00\x04\x00\x00\x00\x07" + b"\x00\x00\x00\x02ab"
    row += b"\xff\xff\xff\xff"
    assert last_fields_binary(header + row) == ("ab", None)
    assert last_fields_text(b"7\tx\\ty\t\\N\n") == ("x\ty", None)
    assert last_fields_text(b"7\t2026-01-01 00:00:00+00\tse-1\\\\2\n") == (
        "2026-01-01 00:00:00+00",
        "se-1\\2",
    )
    assert not is_row(b"\xff\xff", binary=True)
    assert not is_row(header + b"\xff\xff", binary=True)
    assert is_row(header + row, binary=True)
