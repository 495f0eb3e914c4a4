"""A transform's read: a query's rows as chunked results, each chunk's result freed once loaded.

psycopg's ``Cursor.stream`` keeps a chunk's result (the libpq PGresult: every
byte the server sent for the chunk) alive until the next chunk is fetched,
and a row is handed out while it lives. For a row holding one large value
that is a copy of the value alive through the transform and the encoding,
beside libpq's input buffer, the decoded value and its encoded form
(docs/benchmarks/round-7.md). Here each chunk's rows are loaded first, then its result
is cleared, then they are handed out.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, islice
from typing import Any

import psycopg
from psycopg import pq
from psycopg.types.json import JsonbBinaryLoader, JsonBinaryLoader, JsonbLoader, JsonLoader

from services.base import ExactJsonbBinaryLoader

_INVALID_OID = 0  # the loader of a type psycopg does not know
# Python loaders known to make new objects of a value: it is safe to clear the result
# under them. psycopg hands a Python loader a view of the result's memory, which a
# loader may keep (psycopg's view keeps the result object alive, but clear() frees it).
_COPYING_LOADERS: tuple[type, ...] = (ExactJsonbBinaryLoader, JsonbBinaryLoader, JsonbLoader)
_COPYING_LOADERS += (JsonBinaryLoader, JsonLoader)


def loaded_rows(reader: psycopg.Cursor[Any], rows: Iterator[Any], *, binary: bool) -> Iterator[Any]:
    """The rows of ``reader``'s ``stream`` (``rows``, which the caller closes), each chunk's
    result cleared before its rows are handed out when every column's loader copies
    out of it (``binary``: the stream's format)."""
    return chain.from_iterable(_chunks(reader, rows, binary=binary))


def _chunks(
    reader: psycopg.Cursor[Any], rows: Iterator[Any], *, binary: bool
) -> Iterator[list[Any]]:
    clear: bool | None = None  # known once the first chunk has set the loaders
    for first in rows:
        result = reader.pgresult
        assert result is not None
        # The rest of this chunk's rows: psycopg fetches the next chunk only after them.
        chunk = [first, *islice(rows, result.ntuples - 1)]
        if clear is None:
            clear = _loaders_copy(reader, binary=binary)
        if clear:
            result.clear()
        yield chunk


def _loaders_copy(reader: psycopg.Cursor[Any], *, binary: bool) -> bool:
    """Whether every column's loader makes new objects, never a view of the result."""
    if pq.__impl__ == "python":  # its results hand loaders copies of the bytes
        return True
    fmt = pq.Format.BINARY if binary else pq.Format.TEXT
    adapters = reader.adapters
    for column in reader.description or ():
        loader = adapters.get_loader(column.type_code, fmt)
        loader = loader or adapters.get_loader(_INVALID_OID, fmt)
        is_c = loader is not None and loader.__module__.startswith(("psycopg_binary", "psycopg_c"))
        if not is_c and not (loader is not None and issubclass(loader, _COPYING_LOADERS)):
            return False
    return True
