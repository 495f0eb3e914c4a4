"""Transformed rows as binary COPY data, a large json value's text handed over as it is.

psycopg's binary COPY formatter copies each field into its row buffer; for a
jsonb its dumper first makes ``b"\\x01" + text``, a second copy. For a 20 MB
value that is two copies more than the encoded text (docs/benchmarks/round-7.md).
BinaryRows formats rows with psycopg's own function into a
buffer of its own, which it hands to ``write`` each time it passes
BUFFER_SIZE, as psycopg's formatter does; a json or jsonb field whose text is
longer than LARGE_JSON_BYTES goes to ``write`` as the dumper made it, its
length and version byte before it. ``write`` is a COPY's (which hands a long
buffer to libpq in slices) or a list's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import BaseConnection

# Not public API, but the very function and framing psycopg's COPY uses, so the bytes
# equal Copy.write_row's (tests/test_copy_rows.py compares them).
from psycopg._copy_base import BUFFER_SIZE, format_row_binary
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import AdaptersMap, Transformer
from psycopg.pq import Format

from services.base import COPY_BINARY_HEADER, COPY_BINARY_TRAILER, LargeJson, dump_large_apart

_JSON_OIDS = frozenset((114, 3802))  # json, jsonb
_NULL = b"\xff\xff\xff\xff"
_INT4 = struct.Struct("!i")


@dataclass(frozen=True)
class _Context:
    adapters: AdaptersMap
    connection: BaseConnection[Any] | None


class BinaryRows:
    """A RowSink for binary COPY: rows of ``types`` dumped as ``context`` dumps them."""

    def __init__(
        self, context: AdaptContext, types: list[int], write: Callable[[Buffer], object]
    ) -> None:
        self._context, self._types, self._write = context, types, write
        apart = _Context(AdaptersMap(context.adapters), context.connection)
        dump_large_apart(apart)
        self._tx = Transformer(apart)
        self._tx.set_dumper_types(types, Format.BINARY)
        self._buffer = bytearray(COPY_BINARY_HEADER)

    def write_row(self, row: Sequence[Any]) -> None:
        try:  # on an error, format_row_binary leaves the buffer as it was
            format_row_binary(row, self._tx, self._buffer)
        except LargeJson as large:
            self._write_large(row, large)
        if len(self._buffer) > BUFFER_SIZE:
            self._write(self._buffer)
            self._buffer = bytearray()

    def __enter__(self) -> BinaryRows:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:  # a failed COPY is aborted: nothing more goes in
            self.finish()

    def finish(self) -> None:
        """Write what is buffered and the trailer."""
        self._buffer += COPY_BINARY_TRAILER
        self._write(self._buffer)
        self._buffer = bytearray()

    def _write_large(self, row: Sequence[Any], large: LargeJson) -> None:
        """Write ``row``, its large json fields' texts apart from the rest of it."""
        fields, apart = list(row), {}
        while True:  # a field found large is formatted as NULL, then put back below
            index = self._json_field(fields, large.value)
            if index is None:  # inside another field (an array of jsonb): copied as usual
                plain = Transformer(self._context)
                plain.set_dumper_types(self._types, Format.BINARY)
                format_row_binary(row, plain, self._buffer)
                return
            apart[index], fields[index] = large, None
            formatted = bytearray()
            try:
                format_row_binary(fields, self._tx, formatted)
                break
            except LargeJson as another:
                large = another
        self._splice(formatted, apart)

    def _json_field(self, fields: list[Any], value: Any) -> int | None:
        """The first json or jsonb field holding ``value`` itself: the one its dumper raised for."""
        for index, field in enumerate(fields):
            if field is value and self._types[index] in _JSON_OIDS:
                return index
        return None

    def _splice(self, formatted: bytearray, apart: dict[int, LargeJson]) -> None:
        """Write ``formatted`` (a row with NULLs where ``apart``'s fields go) with them in."""
        done, at = 0, 2  # after the field count
        for index in range(len(self._types)):
            if index in apart:
                large = apart[index]
                size = len(large.prefix) + len(large.text)
                self._buffer += formatted[done:at] + _INT4.pack(size) + large.prefix
                self._write(self._buffer)
                self._write(large.text)
                self._buffer, done = bytearray(), at + len(_NULL)
            (length,) = _INT4.unpack_from(formatted, at)
            at += len(_NULL) + max(length, 0)
        self._buffer += formatted[done:]
