"""Types stay exact end to end, and the saved cursor keeps its column's type and precision."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dbtools import TestDatabases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.postgres import types as pg_types
from psycopg.types.json import Jsonb
from synctools import definition, on_both, position, sync

from services.base.exact_json import _SCREEN_SLICE, ExactJsonbBinaryLoader

COLUMNS = (
    "id int PRIMARY KEY, ts timestamptz, doc jsonb, big numeric, money numeric(30, 10),"
    " day date, u uuid, raw bytea, ints int[], texts text[], flag boolean, note text"
)
JSONB_OID = pg_types["jsonb"].oid
ROOT = Path(__file__).resolve().parent.parent
INSERT = "INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
# Compared as PostgreSQL's own text form, so nothing is lost to Python's view of a value.
AS_TEXT = "SELECT id, t::text FROM t ORDER BY id"

EDGE_ROWS: list[tuple[Any, ...]] = [
    (
        1,
        dt.datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC),
        Jsonb({"n": 1, "nested": {"list": [1, "two", None, True]}, "é": 'quo"te'}),
        Decimal("123456789012345678901234567890.000000000000000000000000000001"),
        Decimal("-12345678901234567890.0123456789"),
        dt.date(1999, 12, 31),
        uuid.UUID("00000000-0000-0000-0000-000000000001"),
        b"\x00\x01\xff\\x",
        [1, None, -2147483648],
        ["a,b", 'q"d', "", None, "line\nbreak"],
        True,
        "tab\there \\ back",
    ),
    (2, dt.datetime(2026, 1, 1, 0, 0, 0, 2, tzinfo=dt.UTC), *[None] * 10),
    (
        3,
        dt.datetime(1970, 6, 1, 23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-7))),
        Jsonb([]),
        Decimal("0E-20"),
        Decimal("0.0000000001"),
        dt.date(2400, 2, 29),
        uuid.UUID("ffffffff-ffff-ffff-ffff-ffffffffffff"),
        b"",
        [],
        [],
        False,
        "",
    ),
]


def _load(dbs: TestDatabases, rows: list[tuple[Any, ...]]) -> None:
    with dbs.core() as conn, conn.cursor() as cur:
        cur.executemany(INSERT, rows)


def _same_everywhere(dbs: TestDatabases) -> None:
    assert dbs.query_analytics(AS_TEXT) == dbs.query_core(AS_TEXT)


@pytest.mark.parametrize("transform", [None, lambda r: r], ids=["copy", "transform"])
def test_every_type_arrives_exactly(dbs: TestDatabases, transform: Any) -> None:
    on_both(dbs, f"CREATE TABLE t ({COLUMNS})")
    _load(dbs, EDGE_ROWS)

    result = sync(dbs, definition("t", "ts", id_field="id", batch_size=2, transform=transform))

    assert result.counts.created == len(EDGE_ROWS)
    _same_everywhere(dbs)


def test_types_converted_by_postgresql_when_source_and_destination_differ(
    dbs: TestDatabases,
) -> None:
    dbs.query_core(f"CREATE TABLE t ({COLUMNS})")
    # bigint and varchar instead of int and text: rows go through PostgreSQL's input functions.
    dbs.query_analytics(f"CREATE TABLE t ({COLUMNS.replace('id int', 'id bigint')})")
    dbs.query_analytics("ALTER TABLE t ALTER note TYPE varchar(100)")
    _load(dbs, EDGE_ROWS)

    sync(dbs, definition("t", "ts", id_field="id", batch_size=2))

    _same_everywhere(dbs)


# PostgreSQL text and jsonb cannot hold NUL; surrogates are not valid UTF-8.
plain_text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | plain_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_text, inner, max_size=3),
    max_leaves=5,
)
rows = st.lists(
    st.tuples(
        st.datetimes(
            min_value=dt.datetime(1900, 1, 1),
            # Not in the future: rows past the run's watermark (now) wait for a later run.
            max_value=dt.datetime(2026, 1, 1),
            timezones=st.just(dt.UTC),
        ),
        # Not a top-level JSON null: a transform sees it as None, which is written as SQL NULL.
        st.none() | json_values.filter(lambda v: v is not None).map(Jsonb),
        st.none()
        | st.decimals(allow_nan=False, allow_infinity=False, places=12).filter(
            lambda d: abs(d) < 10**17
        ),
        st.none() | st.decimals(-(10**19), 10**19, places=10),
        st.none() | st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
        st.none() | st.uuids(),
        st.none() | st.binary(max_size=20),
        st.none() | st.lists(st.none() | st.integers(-(2**31), 2**31 - 1), max_size=4),
        st.none() | st.lists(st.none() | plain_text, max_size=4),
        st.none() | st.booleans(),
        st.none() | plain_text,
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,  # the same examples on every CI run: a red build is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(generated=rows, use_transform=st.booleans())
def test_generated_rows_round_trip(
    dbs: TestDatabases, generated: list[tuple[Any, ...]], use_transform: bool
) -> None:
    dbs.query_core("DROP TABLE IF EXISTS t")
    dbs.query_analytics("DROP TABLE IF EXISTS t; DELETE FROM tablesync.positions")
    on_both(dbs, f"CREATE TABLE t ({COLUMNS})")
    _load(dbs, [(i, *row) for i, row in enumerate(generated)])

    transform = (lambda r: r) if use_transform else None
    sync(dbs, definition("t", "ts", id_field="id", batch_size=4, transform=transform))

    _same_everywhere(dbs)


# -- the saved cursor keeps its type and precision ---------------------------

CURSORS = {
    "timestamptz": ("'2026-03-01 12:00:00+00'::timestamptz + g * interval '1 microsecond'"),
    "numeric": "1.000000000000000000000000000001 + g * 0.000000000000000000000000000001",
    "double precision": "0.1::float8 + g * 1e-16::float8",
    "date": "'2026-03-01'::date + g",
}


@pytest.mark.parametrize("type_name", list(CURSORS))
def test_a_cursor_of_distinct_close_values_straddles_batches_exactly(
    dbs: TestDatabases, type_name: str
) -> None:
    on_both(dbs, f'CREATE TABLE t (id int PRIMARY KEY, "c" {type_name})')
    dbs.query_core(f"INSERT INTO t SELECT g, {CURSORS[type_name]} FROM generate_series(0, 8) g")
    export = definition("t", "c", batch_size=2)

    first = sync(dbs, export)
    dbs.query_core(f"INSERT INTO t SELECT g, {CURSORS[type_name]} FROM generate_series(9, 10) g")
    second = sync(dbs, export)

    assert (first.counts.read, first.counts.created) == (9, 9)
    assert (second.counts.read, second.counts.created) == (2, 2)
    newest = dbs.query_core("SELECT max(c)::text FROM t")[0][0]
    assert position(dbs) == (newest, None)
    assert sync(dbs, export).counts.read == 0
    _same_everywhere(dbs)


@pytest.mark.parametrize("transform", [None, lambda r: r], ids=["copy", "transform"])
def test_jsonb_numbers_keep_every_digit(dbs: TestDatabases, transform: Any) -> None:
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, doc jsonb)")
    dbs.query_core(
        'INSERT INTO t VALUES (1, \'{"x": 1.0000000000000000000001,'
        ' "big": 123456789012345678901234567890, "list": [0.1, 1e-30]}\')'
    )

    sync(dbs, definition("t", "id", transform=transform))

    _same_everywhere(dbs)


def test_a_fraction_cut_by_the_screens_slices_still_keeps_every_digit() -> None:
    # A document past one slice is screened a slice at a time; a number whose '.' is
    # the first byte of the second slice must still send it to the exact decoder.
    number = b"1.25"  # a float to orjson
    head = b'{"a": "'
    pad = _SCREEN_SLICE - len(head) - len(b'", "n": 1')
    doc = head + b"x" * pad + b'", "n": ' + number + b"}"
    assert doc.index(b".", len(head) + pad) == _SCREEN_SLICE

    decoded = ExactJsonbBinaryLoader(JSONB_OID).load(memoryview(b"\x01" + doc))

    assert type(decoded["n"]) is Decimal and decoded["n"] == Decimal("1.25")


def test_a_large_jsonb_is_decoded_without_a_whole_copy_of_it() -> None:
    # In a fresh process, so its peak RSS is this decode's: the decoded str and one
    # screened slice; a copy of the bytes, or of their screen, would add a size each.
    code = """
import sys
from services.base.exact_json import ExactJsonbBinaryLoader
def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
size = 20 * 1024 * 1024
data = b'\\x01{"blob": "' + b"x" * size + b'"}'
before = peak()
decoded = ExactJsonbBinaryLoader(3802).load(memoryview(data))
assert len(decoded["blob"]) == size
print((peak() - before) * 1024 / size)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert float(out.stdout) < 1.3, f"decoding peaked at {out.stdout.strip()}x the value"
