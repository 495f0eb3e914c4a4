"""A transform's rows as binary COPY (services/sync/transform/copy_rows.py) and its chunked read
(services.sync.transform.read_rows.py): psycopg's own bytes, without the copies of a large value."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from collections.abc import Generator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dbtools import TestDatabases

# The reference: the formatter psycopg's own Copy.write_row encodes with.
from psycopg._copy_base import BinaryFormatter
from psycopg.abc import Buffer
from psycopg.adapt import Loader, Transformer
from psycopg.postgres import types as pg_types
from psycopg.pq import Format
from psycopg.types.json import Json, Jsonb

from services.base.exact_json import LARGE_JSON_BYTES, use_exact_json
from services.sync.transform.copy_rows import BinaryRows
from services.sync.transform.read_rows import loaded_rows

ROOT = Path(__file__).resolve().parent.parent
TYPES = [
    "int4", "int8", "timestamptz", "text", "numeric", "jsonb", "json", "int4[]",
    "bytea", "float8", "date", "bool", "uuid", "jsonb[]",
]  # fmt: skip
OIDS = [
    pg_types[name[:-2]].array_oid if name.endswith("[]") else pg_types[name].oid for name in TYPES
]
LONG = "x" * (LARGE_JSON_BYTES + 10)


def _row(n: int, doc: Any, plain: Any = None, docs: list[Any] | None = None) -> list[Any]:
    return [
        n, n * 10**12, dt.datetime(2026, 1, 1, 0, 0, n, tzinfo=dt.UTC), f'q"t\t{n}\\',
        Decimal("123456789012345678901234567890.000000000000000000000000000001"),
        doc, plain, [n, None, -1], b"\x00\xff", n / 3, dt.date(2026, 1, n), n % 2 == 0,
        uuid.UUID(int=n), docs,
    ]  # fmt: skip


def _rows() -> list[list[Any]]:
    """Every type the transform path writes in binary, NULLs, and large json values: a
    dict, a Jsonb wrapper, one object in two columns, a json column, one inside an array."""
    shared = {"blob": LONG, "n": Decimal("12345678901234567890123")}
    return [
        _row(1, {"small": [1, 2.5, None]}, {"json": True}, [{"a": 1}]),
        [2] + [None] * (len(TYPES) - 1),
        _row(3, shared, shared),
        _row(4, Jsonb({"é": LONG + 'é\n"', "x": [LONG]})),
        _row(5, "just a long string " + LONG, Json([LONG])),
        _row(6, {"k": 1}, None, [{"a": 1}, {"big": LONG}]),  # in an array: copied as usual
        _row(7, {"after": "the large rows"}),
    ]


def _psycopg_bytes(context: Any, rows: list[list[Any]]) -> bytes:
    tx = Transformer(context)
    formatter = BinaryFormatter(tx)
    tx.set_dumper_types(OIDS, formatter.format)
    data = b"".join(bytes(formatter.write_row(row)) for row in rows)
    return data + bytes(formatter.end())


def test_binary_rows_are_psycopgs_bytes_with_a_large_text_handed_over(
    dbs: TestDatabases,
) -> None:
    with dbs.analytics() as conn, conn.cursor() as cursor:
        use_exact_json(cursor)
        pieces: list[Buffer] = []
        with BinaryRows(cursor, OIDS, pieces.append) as rows:
            for row in _rows():
                rows.write_row(row)

        assert b"".join(bytes(p) for p in pieces) == _psycopg_bytes(cursor, _rows())
        # The dumpers' own texts went out as they were made, not copied into a buffer.
        handed = [p for p in pieces if type(p) is bytes and len(p) > LARGE_JSON_BYTES]
        assert len(handed) == 5  # row 3 twice (its text dumped once a column), 4, 5 twice


def test_binary_rows_go_into_a_table_as_psycopgs_copy_writes_them(dbs: TestDatabases) -> None:
    columns = ", ".join(f"c{i} {name}" for i, name in enumerate(TYPES))
    dbs.query_analytics(f"CREATE TABLE ours ({columns}); CREATE TABLE psycopgs ({columns})")
    with dbs.analytics() as conn, conn.cursor() as cursor:
        use_exact_json(cursor)
        copy = cursor.copy("COPY ours FROM STDIN (FORMAT binary)")
        with copy as into, BinaryRows(cursor, OIDS, into.write) as rows:
            for row in _rows():
                rows.write_row(row)
        with cursor.copy("COPY psycopgs FROM STDIN (FORMAT binary)") as into:
            into.set_types(OIDS)
            for row in _rows():
                into.write_row(row)
    # Compared as PostgreSQL's text form of every column, and the large values checked.
    as_text = "SELECT t::text FROM {} t ORDER BY c0"
    assert dbs.query_analytics(as_text.format("ours")) == dbs.query_analytics(
        as_text.format("psycopgs")
    )
    checks = "SELECT c0, length(c5->>'blob'), c5->>'n', c6::jsonb = c5, c13[2] FROM ours"
    got = {row[0]: row[1:] for row in dbs.query_analytics(checks)}
    assert got[3] == (len(LONG), "12345678901234567890123", True, None)
    assert got[6][3] == {"big": LONG}


def test_a_large_jsonb_is_written_with_no_copy_of_its_text() -> None:
    # In a fresh process, peak RSS reset before the row: what encoding and writing it
    # cost. The text is inherent; the dumper's b"\x01" + text and the row buffer's copy
    # of it would add a size each.
    code = """
from psycopg import postgres
from psycopg.adapt import AdaptersMap
from services.base.exact_json import use_exact_json
from services.sync.transform.copy_rows import BinaryRows
class Context:
    adapters, connection = AdaptersMap(postgres.adapters), None
def status(key):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key))
size = 20 * 1024 * 1024
row, context, written = [1, {"blob": "x" * size}], Context(), []
use_exact_json(context)
rows = BinaryRows(context, [23, 3802], lambda piece: written.append(len(piece)))
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # VmHWM := VmRSS
before = status("VmRSS")
rows.write_row(row)
rows.finish()
assert sum(written) > size
print((status("VmHWM") - before) * 1024 / size)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert float(out.stdout) < 1.3, f"writing the row peaked at {out.stdout.strip()}x the value"


class _ViewLoader(Loader):
    """A Python loader that hands out psycopg's view of the result itself."""

    format = Format.BINARY

    def load(self, data: Buffer) -> Any:
        return data


@pytest.mark.parametrize("keeps_views", [False, True], ids=["copying", "view"])
def test_each_chunks_result_is_cleared_once_loaded_unless_a_loader_keeps_views(
    dbs: TestDatabases, keeps_views: bool
) -> None:
    query = "SELECT g, repeat('v', g), jsonb_build_object('g', g) FROM generate_series(1, 5) g"
    with dbs.core() as conn, conn.cursor() as reader:
        use_exact_json(reader)
        if keeps_views:
            reader.adapters.register_loader("text", _ViewLoader)
        read = reader.stream(query, binary=True, size=2)
        assert isinstance(read, Generator)  # psycopg's stream is one
        with closing(read) as stream:
            rows = loaded_rows(reader, stream, binary=True)
            first = next(rows)
            result = reader.pgresult
            assert result is not None
            cleared = result.ntuples == 0
            values = [first, *rows]
    assert cleared is not keeps_views
    texts = [bytes(v[1]) if keeps_views else v[1] for v in values]
    assert [(v[0], t, v[2]) for v, t in zip(values, texts, strict=True)] == [
        (g, b"v" * g if keeps_views else "v" * g, {"g": g}) for g in range(1, 6)
    ]
