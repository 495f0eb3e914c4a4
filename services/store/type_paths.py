"""How a column's values may travel from core's type to analytics' (contract rule 17).

Bytes flow unchanged (binary COPY) only between types of the same substance:
the same base type and typmod, an enum's labels in order, a domain's base
type, an array's element, a composite's fields, a range's subtype, found
recursively from each server's catalog, never from the types' names. Binary
arrays and composites also carry their elements' and fields' type OIDs, which
the receiving server checks: those must be equal too (a user type's OID
differs between two databases). Where the bytes cannot flow, values go through
their text form when the destination reproduces every text it accepts (the
conversions in ``text_lossless``): what it cannot take it refuses row by row
(exit 1, naming the row), it never alters a value silently. Any other pair is
refused before writing (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.store.type_shapes import TypeShape

BINARY, TEXT = "binary", "text"
_STRINGS = {"text", "varchar", "bpchar", "name", "citext"}
_INTEGERS = {"int2", "int4", "int8"}
_TIMES = {"timestamp", "timestamptz", "time", "timetz"}
# Destinations whose input function keeps any text as it is.
_ANY_TEXT = {"text", "varchar", "citext"}


@dataclass(frozen=True)
class ColumnPath:
    """How one column's values travel: BINARY, TEXT, or None (refused, with ``reason``)."""

    column: str
    source: TypeShape
    destination: TypeShape
    path: str | None
    reason: str = ""


def resolved(shape: TypeShape) -> TypeShape:
    """The type a domain (of a domain...) is over; any other type itself."""
    while shape.kind == "domain":
        shape = shape.part
    return shape


def substance(shape: TypeShape) -> tuple[Any, ...]:
    """What the type's values are, whatever the type is called."""
    shape = resolved(shape)
    if shape.kind == "base":
        return ("base", shape.base, shape.typmod)
    if shape.kind == "enum":
        return ("enum", shape.labels)
    if shape.kind == "composite":
        return ("composite", tuple((n, substance(p)) for n, p in shape.parts))
    return (shape.kind, substance(shape.part))


def _wire(shape: TypeShape) -> tuple[Any, ...]:
    """The type OIDs the binary form carries (array elements', composite fields')."""
    shape = resolved(shape)
    if shape.kind in ("array", "composite"):
        return (shape.kind, tuple((p.oid, _wire(p)) for _, p in shape.parts))
    if shape.kind in ("range", "multirange"):
        return _wire(shape.part)
    return ()


def binary_allowed(source: TypeShape, dest: TypeShape) -> bool:
    """Whether core's binary form of ``source`` means the same value in ``dest``."""
    nodes = source.walk() + dest.walk()
    if any(not n.binary_io or n.catalog_reference for n in nodes):
        return False  # no binary form, or an OID that names another object in analytics
    return substance(source) == substance(dest) and _wire(source) == _wire(dest)


def text_lossless(source: TypeShape, dest: TypeShape, *, nested: bool = False) -> bool:
    """Whether every text of ``source`` that ``dest`` accepts comes back out unchanged."""
    s, d = resolved(source), resolved(dest)
    if substance(s) == substance(d):
        return True
    if d.kind == "base" and d.base in _ANY_TEXT and d.typmod == -1:
        # Text keeps any text; inside an array or a composite, only what is cut at commas.
        return not nested or s.delimiter == d.delimiter
    if s.kind != d.kind:
        return False
    if s.kind == "base":
        return _base_lossless(s, d)
    if s.kind == "enum":
        return set(s.labels) <= set(d.labels)
    if s.kind == "composite":
        return len(s.parts) == len(d.parts) and all(
            text_lossless(a, b, nested=True)
            for (_, a), (_, b) in zip(s.parts, d.parts, strict=True)
        )
    return text_lossless(s.part, d.part, nested=True)  # array, range, multirange


def _base_lossless(s: TypeShape, d: TypeShape) -> bool:
    """Base type to base type: the conversions whose text round trip is exact."""
    pair = (s.base, d.base)
    if s.base in _STRINGS and d.base in ("varchar", "citext"):
        return True  # too long: refused by the row; citext keeps the case it is given
    if s.base in _INTEGERS and d.base in _INTEGERS:
        return True  # out of range: refused by the row
    if s.base in _INTEGERS | {"numeric"} and d.base == "numeric":
        scale = _scale(s.typmod) if s.base == "numeric" else 0
        return d.typmod == -1 or _scale(d.typmod) == scale
    if s.base == d.base and s.base in _TIMES | {"varbit"}:
        return d.typmod == -1 or (s.typmod != -1 and d.typmod >= s.typmod)
    return pair in {("float4", "float8"), ("cidr", "inet"), ("jsonb", "json"), ("bit", "varbit")}


def _scale(typmod: int) -> int:
    """A numeric typmod's scale (-1, no typmod: any scale)."""
    return -1 if typmod == -1 else (typmod - 4) & 0xFFFF


def has_equality(shape: TypeShape, *, nested: bool = False) -> bool:
    """Whether ``v = v`` has a meaning for the type, by the catalog: a base type's = operator
    or default btree or hash operator class (inside an array or a composite, only the
    class counts: box has = but no class, so box[] = box[] raises); an array's element's,
    a composite's fields', a domain's base type's; an enum, a range and a multirange
    always have one. The sync does not rely on it (its upsert compares binary images,
    which every type has); the documentation reports it."""
    if shape.kind == "base":
        return shape.equality_opclass or (shape.equality_operator and not nested)
    if shape.kind == "domain":
        return has_equality(shape.part, nested=nested)
    return all(has_equality(p, nested=True) for _, p in shape.parts)


def describe(shape: TypeShape) -> str:
    """The type as a message names it: a domain says what it is over."""
    if shape.kind == "domain":
        return f"{shape.name} (domain over {describe(shape.part)})"
    return shape.name


def column_path(column: str, source: TypeShape, dest: TypeShape) -> ColumnPath:
    """How ``column`` goes from core's ``source`` type to analytics' ``dest`` type."""
    unreadable = [n for n in dest.walk() if not n.accepts_input]
    if unreadable:
        return ColumnPath(
            column,
            source,
            dest,
            None,
            f"analytics type {describe(dest)} of column {column!r} takes no value"
            f" ({unreadable[0].name} values are built by PostgreSQL only, never read)",
        )
    path = travel(source, dest)
    if path is not None:
        return ColumnPath(column, source, dest, path)
    reason = (
        f"column {column!r} is {describe(source)} in core but {describe(dest)} in analytics:"
        " no conversion keeps every value (change one of the types, or map the column with"
        " a transform)"
    )
    return ColumnPath(column, source, dest, None, reason)


def travel(source: TypeShape, dest: TypeShape) -> str | None:
    """BINARY or TEXT, how values go from core's ``source`` type to analytics' ``dest`` type
    (one that takes input); None when neither keeps every value. A copied column and a
    select expression both take this one decision; each words its own refusal."""
    if binary_allowed(source, dest):
        return BINARY
    if text_lossless(source, dest):
        return TEXT
    return None
