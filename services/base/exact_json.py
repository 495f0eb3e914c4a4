"""JSON that keeps every digit of its numbers on the way through a transform.

jsonb stores numbers as ``numeric``: 1.0000000000000000000001 or a 30-digit
integer are valid values. Decoded as Python floats they would come back
rounded (and orjson cannot write integers past 64 bits), so rows read for a
transform decode JSON numbers with a fraction or exponent, and integers past
64 bits, as Decimal, and Decimals are written back digit for digit.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.errors import DataError
from psycopg.pq import Format
from psycopg.types.json import (
    Json,
    Jsonb,
    JsonbBinaryDumper,
    JsonBinaryDumper,
    JsonbLoader,
    set_json_dumps,
    set_json_loads,
)

_INT64_MAX = 2**63 - 1


def _int_or_decimal(text: str) -> int | Decimal:
    number = int(text)
    return number if -_INT64_MAX - 1 <= number <= _INT64_MAX else Decimal(text)


# A number token with a fraction or an exponent, or an integer of 19+ digits
# (int64 has 19), where orjson would round or differ: such documents take the
# exact decoder. Inside a document a number follows ':', ',' or '['; the same
# text inside a string only costs the slow path, never a digit.
_INEXACT_FOR_ORJSON = re.compile(rb"[:,\[]\s*-?(?:[0-9]+[.eE]|[0-9]{19})")
_NUMBER_START = frozenset(b"-0123456789")
_SPACE = (b" ", b"\t", b"\n", b"\r")


def _orjson_is_exact(raw: bytes) -> bool:
    start = raw[:1] if raw[:1] not in _SPACE else raw.lstrip()[:1]
    if start and start[0] in _NUMBER_START:  # the document is one number: let json decide
        return False
    return _INEXACT_FOR_ORJSON.search(raw) is None


def _exact_loads(data: bytes | str) -> Any:
    return json.loads(data, parse_float=Decimal, parse_int=_int_or_decimal)


def loads(data: bytes | str) -> Any:
    """Decode JSON with exact numbers: 64-bit ints as int, other numbers as Decimal.

    orjson decodes documents whose numbers are all small integers (the usual
    case, and several times faster); the others go through the stdlib decoder.
    """
    raw = (
        data if isinstance(data, bytes) else data.encode() if isinstance(data, str) else bytes(data)
    )
    if _orjson_is_exact(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # what orjson refuses, the exact decoder decides
    return _exact_loads(raw)


# jsonb prints its numbers as numeric does: never with an exponent. Mapping
# digits to '0', '.' to itself and all else to ' ' (bytes.translate, C speed)
# leaves only number shapes: '0.' is a fraction, nineteen '0's a big integer.
_SHAPES = bytes(48 if 48 <= b <= 57 else 46 if b == 46 else 32 for b in range(256))
_BIG_INT = b"0" * 19
# A larger document is screened a slice at a time, so screening never holds a
# whole copy of it (a 20 MB value would otherwise cost two more 20 MB copies).
_SCREEN_SLICE = 1 << 20


def _inexact_big(data: Buffer) -> bool:
    """Whether a large jsonb text holds a fraction or an integer of 19+ digits."""
    view = memoryview(data)
    overlap = len(_BIG_INT)  # so no shape is cut in two unseen
    for start in range(0, len(view), _SCREEN_SLICE):
        shapes = bytes(view[start : start + _SCREEN_SLICE + overlap]).translate(_SHAPES)
        if b"0." in shapes or _BIG_INT in shapes:
            return True
    return False


def loads_jsonb(data: Buffer) -> Any:
    """``loads`` for jsonb text, whose numbers never have an exponent: cheaper to screen.

    A '.' after a digit or a run of 19 digits (inside a string too: that only
    costs the slow path) sends the document to the exact decoder. ``data`` may
    be a view of the server's bytes: orjson decodes it without a copy. A larger
    document's long strings are decoded apart (``_loads_long_strings``).
    """
    if len(data) > _SCREEN_SLICE and (value := _loads_long_strings(data)) is not _NOT_SPLIT:
        return value
    return _loads_jsonb(data)


def _loads_jsonb(data: Buffer) -> Any:
    if len(data) <= _SCREEN_SLICE:  # inline, the usual case: this runs per row
        shapes = bytes(data).translate(_SHAPES)
        inexact = b"0." in shapes or _BIG_INT in shapes
    else:
        inexact = _inexact_big(data)
    if not inexact:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # what orjson refuses, the exact decoder decides
    return _exact_loads(bytes(data))


# A string this long is decoded apart from its document (see _loads_long_strings). Any
# run of 2 * _QUOTELESS - 1 bytes holds a whole aligned block of _QUOTELESS bytes.
_LONG_STRING = 1 << 16
_QUOTELESS = _LONG_STRING // 2
_QUOTE = re.compile(rb'"')
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string token, quotes included
_BACKSLASH = re.compile(rb"\\")
_COLON = ord(":")
_NOT_SPLIT = object()


def _loads_long_strings(view: Buffer) -> Any:
    """The document decoded with each long string value made straight from its bytes, or
    _NOT_SPLIT (it has none, or they would not decode so): the caller decodes it whole.

    orjson holds a copy of the whole document while it decodes (measured: 40 MiB at
    its peak for a 20 MiB one); here the rest of the document is decoded with a
    placeholder for each long string, and the string is made from its bytes,
    which costs nothing but the str (docs/benchmarks/round-7.md). The placeholder,
    ``"\\u0000<n>"``, cannot be any jsonb's own string: jsonb refuses \\u0000.
    """
    view = memoryview(view)
    blocks = range(0, len(view) - _QUOTELESS + 1, _QUOTELESS)
    if all(_QUOTE.search(view, at, at + _QUOTELESS) for at in blocks):
        return _NOT_SPLIT  # no run without a quote: no long string (the usual large document)
    pieces, spans = _cut_long_strings(view)
    if not spans:
        return _NOT_SPLIT
    try:
        strings = {f"\x00{n}": _long_string(view[a:b]) for n, (a, b) in enumerate(spans)}
        value, put = _put_back(_loads_jsonb(b"".join(pieces)), strings)
    except ValueError:  # not valid so (UnicodeDecodeError and both JSON errors are ValueErrors):
        return _NOT_SPLIT  # the whole document's decode decides, and names the error
    return value if put == len(strings) else _NOT_SPLIT


def _cut_long_strings(view: memoryview) -> tuple[list[Buffer], list[tuple[int, int]]]:
    """The document's pieces with a placeholder for each long string value, and where
    each of those strings is (its token, quotes included)."""
    pieces: list[Buffer] = []
    spans: list[tuple[int, int]] = []
    last = 0
    for match in _STRING.finditer(view):
        start, end = match.span()
        is_key = end < len(view) and view[end] == _COLON  # jsonb writes a key's colon after it
        if end - start >= _LONG_STRING and not is_key:
            pieces += (view[last:start], b'"\\u0000%d"' % len(spans))
            spans.append((start, end))
            last = end
    pieces.append(view[last:])
    return pieces, spans


def _long_string(token: memoryview) -> str:
    """A JSON string token (quotes included) as orjson would decode it."""
    inner = token[1:-1]
    if _BACKSLASH.search(inner) is None:  # nothing escaped: the str is its bytes, decoded
        return str(inner, "utf-8")
    result = orjson.loads(token)  # escapes: orjson's own decoding of them
    assert isinstance(result, str)
    return result


def _put_back(value: Any, strings: dict[str, str]) -> tuple[Any, int]:
    """``value`` with each placeholder string replaced, and how many were (no recursion:
    a document may nest deeper than Python's stack)."""
    holder, put = [value], 0
    stack: list[Any] = [holder]
    while stack:
        node = stack.pop()
        for key, item in node.items() if type(node) is dict else enumerate(node):
            if type(item) is str:
                if (found := strings.get(item)) is not None:
                    node[key], put = found, put + 1
            elif type(item) is dict or type(item) is list:
                stack.append(item)
    return holder[0], put


class ExactJsonbBinaryLoader(Loader):
    """jsonb in binary: a version byte, then the text, decoded in place (no copy)."""

    format = Format.BINARY

    def load(self, data: Buffer) -> Any:
        view = memoryview(data)
        if view[0] != 1:
            raise DataError(f"unknown jsonb binary format: {view[0]}")
        return loads_jsonb(view[1:])


# The text loader made as psycopg's set_json_loads makes it: the function is a class attribute.
_JSONB_LOADERS = [
    type("ExactJsonbLoader", (JsonbLoader,), {"_loads": loads_jsonb}),
    ExactJsonbBinaryLoader,
]


def _decimal_as_number(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """Encode JSON with orjson, writing Decimals as the numbers they are."""
    return orjson.dumps(value, default=_decimal_as_number)


def use_exact_json(context: AdaptContext) -> None:
    """Make ``context`` (a cursor, usually) load and dump json/jsonb exactly."""
    set_json_loads(loads, context)
    for loader in _JSONB_LOADERS:  # jsonb's own, cheaper screen (see loads_jsonb)
        context.adapters.register_loader("jsonb", loader)
    set_json_dumps(dumps, context)


# A json or jsonb text longer than this is handed to a COPY apart from its row
# (services/sync/transform/copy_rows.py), not copied into the row's buffer.
LARGE_JSON_BYTES = _SCREEN_SLICE


class LargeJson(Exception):  # a signal to the COPY writer, not an error
    """Raised by the dumpers of ``dump_large_apart`` for a value whose text is longer than
    LARGE_JSON_BYTES: the value as the row holds it, and its field's bytes in two pieces."""

    def __init__(self, value: Any, prefix: bytes, text: Buffer) -> None:
        super().__init__("a large json value")
        self.value, self.prefix, self.text = value, prefix, text


class _JsonApart(JsonBinaryDumper):
    def dump(self, obj: Any) -> Buffer | None:
        text = super().dump(obj)
        if text is not None and len(text) > LARGE_JSON_BYTES:
            raise LargeJson(obj, b"", text)
        return text


class _JsonbApart(JsonbBinaryDumper):
    def dump(self, obj: Any) -> Buffer | None:
        text = super(JsonbBinaryDumper, self).dump(obj)  # the text, without the version byte
        if text is not None and len(text) > LARGE_JSON_BYTES:
            raise LargeJson(obj, b"\x01", text)
        return None if text is None else b"\x01" + text  # as JsonbBinaryDumper makes it


# As set_json_dumps makes its dumpers: the function is a class attribute.
_JsonApart._dumps = _JsonbApart._dumps = dumps


def dump_large_apart(context: AdaptContext) -> None:
    """Make ``context`` dump json and jsonb in binary exactly (as ``use_exact_json``), raising
    LargeJson for a value whose text is longer than LARGE_JSON_BYTES."""
    context.adapters.register_dumper(Json, _JsonApart)
    context.adapters.register_dumper(Jsonb, _JsonbApart)
