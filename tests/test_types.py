"""Types stay exact end to end, and the saved cursor keeps its column's type and precision."""

from __future__ import annotations

import datetime as dt
import json
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

from services.base.exact_json import (
    _LONG_STRING,
    _NOT_SPLIT,
    _SCREEN_SLICE,
    ExactJsonbBinaryLoader,
    _loads_jsonb,
    _loads_long_strings,
)
from services.base.run_settings import WORKERS_VARIABLE

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
    # In a fresh process, its peak RSS reset after the data is made, so the peak is this
    # decode's: the decoded str and one screened slice; a copy of the bytes, of their
    # screen, or orjson's of the document (its long string is decoded apart), would
    # add a size each.
    code = """
import sys
from services.base.exact_json import ExactJsonbBinaryLoader
def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
size = 20 * 1024 * 1024
data = b'\\x01{"blob": "' + b"x" * size + b'"}'
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # VmHWM := VmRSS: the peak from here on is the decode's
before = peak()
decoded = ExactJsonbBinaryLoader(3802).load(memoryview(data))
assert len(decoded["blob"]) == size
print((peak() - before) * 1024 / size)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert float(out.stdout) < 1.3, f"decoding peaked at {out.stdout.strip()}x the value"


LONG = "x" * (_LONG_STRING + 1)
LONG_DOCUMENTS = [
    {"blob": "x" * (2 * _SCREEN_SLICE)},
    {
        "a": [1, 2.5, LONG, {"k": 'z\n"\\' * _LONG_STRING}],
        "big": 10**30,
        "s": "é€😀" * _LONG_STRING,
    },
    [LONG] * 40,
    "a document that is one long string " + "w" * (2 * _SCREEN_SLICE),
    {"k" * (2 * _LONG_STRING): "a long key", "v": "v" * (2 * _SCREEN_SLICE)},
    {"numbers": list(range(300_000)), "t": "u" * (2 * _SCREEN_SLICE)},
    {"x": 1.0000000000000000000001, "pad": "0.5 " * _SCREEN_SLICE},
]


@pytest.mark.parametrize("doc", LONG_DOCUMENTS, ids=range(len(LONG_DOCUMENTS)))
def test_a_documents_long_strings_decode_apart_to_the_same_value(doc: Any) -> None:
    text = json.dumps(doc, ensure_ascii=False).encode()  # jsonb's form: raw UTF-8, ", " and ": "
    assert len(text) > _SCREEN_SLICE

    decoded = ExactJsonbBinaryLoader(JSONB_OID).load(memoryview(b"\x01" + text))

    assert _loads_long_strings(memoryview(text)) is not _NOT_SPLIT  # decoded apart
    whole = _loads_jsonb(memoryview(text))
    assert decoded == whole
    assert repr(decoded) == repr(whole)  # the same types throughout: Decimal stays Decimal


def test_a_large_document_without_long_strings_decodes_whole() -> None:
    text = json.dumps({"numbers": list(range(300_000)), "s": ["short"] * 1000}).encode()

    assert _loads_long_strings(memoryview(text)) is _NOT_SPLIT
    assert ExactJsonbBinaryLoader(JSONB_OID).load(memoryview(b"\x01" + text)) == json.loads(text)


LARGE_ROWS: list[tuple[Any, ...]] = [
    (
        n,
        dt.datetime(2026, 1, 1, 0, 0, n, tzinfo=dt.UTC),
        Jsonb({"blob": "x" * (2 * _SCREEN_SLICE), "text": 'é\n"\\ ' * _LONG_STRING, "n": n}),
        *EDGE_ROWS[0][3:],
    )
    for n in (10, 12)
]


@pytest.mark.usefixtures("cursor_order_first_loads")
@pytest.mark.parametrize("workers", ["0", "2"])
def test_large_jsonb_values_arrive_exactly_through_a_transform(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    # Batches of two: the first is the runner's, the second a worker's when there are.
    monkeypatch.setenv(WORKERS_VARIABLE, workers)
    on_both(dbs, f"CREATE TABLE t ({COLUMNS})")
    rows = [EDGE_ROWS[1], LARGE_ROWS[0], (11, *EDGE_ROWS[0][1:]), LARGE_ROWS[1]]
    _load(dbs, rows)

    result = sync(dbs, definition("t", "ts", id_field="id", batch_size=2, transform=lambda r: r))

    assert result.counts.created == len(rows)
    assert result.transform_workers == int(workers)
    _same_everywhere(dbs)
