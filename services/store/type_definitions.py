"""User-defined types by definition: enums, domains, composites, ranges (and extensions' base
types), read from a catalog with every type they are built on.

Two databases' same-named types are the same only when their definitions are: an enum's labels
in order, a domain's base type, NOT NULL and checks, a composite's fields, a range's subtype.
Names and OIDs say nothing across databases. ``TypeCatalog.render`` names a type the same way
on every server (user types schema-qualified), so two definitions compare as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import sql

from services.store.type_shapes import REACHABLE_TYPES


class TypeKind(StrEnum):
    """The kinds of user-defined type a table's columns can be built on."""

    ENUM = "enum"
    DOMAIN = "domain"
    COMPOSITE = "composite"
    RANGE = "range"
    MULTIRANGE = "multirange"  # made by its range; never created on its own
    BASE = "base"  # a C type from an extension (citext, hstore): created by CREATE EXTENSION


_KINDS = {
    "e": TypeKind.ENUM,
    "d": TypeKind.DOMAIN,
    "c": TypeKind.COMPOSITE,
    "r": TypeKind.RANGE,
    "m": TypeKind.MULTIRANGE,
    "b": TypeKind.BASE,
}
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")


@dataclass(frozen=True)
class TypeRef:
    """A type as a column, field or domain uses it: its OID and format_type() with typmod."""

    oid: int
    formatted: str


@dataclass(frozen=True)
class UserType:
    """One user-defined type's definition, its parts named as ``TypeCatalog.render`` does."""

    schema: str
    name: str
    kind: TypeKind
    labels: tuple[str, ...] = ()  # enum, in sort order
    base: str = ""  # domain: base type; range: subtype
    not_null: bool = False  # domain
    checks: tuple[tuple[str, str], ...] = ()  # domain: (constraint name, definition), by name
    fields: tuple[tuple[str, str], ...] = ()  # composite: (name, type), in order
    multirange: tuple[str, str] | None = None  # range: (schema, name) of its multirange
    subtype_diff: tuple[str, str] | None = None  # range: (schema, function)
    canonical: str | None = None  # range: its canonical function, which scaffold cannot make
    extension: str | None = None  # base: the extension that creates it
    depends_on: tuple[tuple[str, str], ...] = ()  # user types it is built on

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def substance(self) -> tuple[Any, ...]:
        """What must be equal for two same-named types to hold the same values alike."""
        checks = tuple(sorted(definition for _, definition in self.checks))
        return (self.kind, self.labels, self.base, self.not_null, checks, self.fields,
                self.subtype_diff, self.canonical)  # fmt: skip

    def same_as(self, other: UserType) -> bool:
        """Whether ``other`` has this type's definition (names of constraints aside)."""
        return self.substance == other.substance

    def describe(self) -> str:
        """The definition in one line, for messages."""
        if self.kind is TypeKind.ENUM:
            return f"enum ({', '.join(_quoted(label) for label in self.labels)})"
        if self.kind is TypeKind.DOMAIN:
            parts = [f"domain over {self.base}", *(["NOT NULL"] if self.not_null else [])]
            return " ".join(parts + [definition for _, definition in self.checks])
        if self.kind is TypeKind.COMPOSITE:
            return f"composite ({', '.join(f'{n} {t}' for n, t in self.fields)})"
        if self.kind is TypeKind.RANGE:
            return f"range of {self.base}"
        return f"{self.kind} type" + (f" of extension {self.extension}" if self.extension else "")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class TypeCatalog:
    """The user-defined types a set of columns is built on, by OID, and how to name any type."""

    types: dict[int, UserType]
    array_elements: dict[int, int]  # array type OID -> element type OID, for arrays of user types

    def render(self, ref: TypeRef) -> sql.Composable:
        """``ref`` as SQL that names the same type on any server: user types schema-qualified
        (an array of one with ``[]``), built-in ones as format_type() wrote them, typmod
        included (format_type's text comes from the server's catalog, never from input)."""
        element = self.array_elements.get(ref.oid)
        if element is not None:
            return sql.SQL("{}[]").format(self.render(TypeRef(element, "")))
        found = self.types.get(ref.oid)
        if found is not None:
            return sql.Identifier(found.schema, found.name)
        return sql.SQL(ref.formatted)

    def in_creation_order(self) -> list[UserType]:
        """Every type after the types it is built on."""
        by_name = {(t.schema, t.name): t for t in self.types.values()}
        ordered: dict[tuple[str, str], UserType] = {}

        def visit(key: tuple[str, str]) -> None:
            if key in ordered or key not in by_name:
                return
            for dependency in by_name[key].depends_on:
                visit(dependency)
            ordered[key] = by_name[key]

        for key in sorted(by_name):
            visit(key)
        return list(ordered.values())

    def by_name(self) -> dict[tuple[str, str], UserType]:
        return {(t.schema, t.name): t for t in self.types.values()}


# What defines each user type the given ones are built on (REACHABLE_TYPES: array
# elements, domains' bases, composites' fields, ranges' subtypes, a multirange's range).
_TYPES_SQL = (
    REACHABLE_TYPES
    + """
SELECT t.oid::int, n.nspname, t.typname, t.typtype,
       (SELECT e.oid::int FROM pg_type e WHERE e.oid = t.typelem AND e.typarray = t.oid),
       n.nspname NOT IN ('pg_catalog', 'information_schema'),
       (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
          FROM pg_enum e WHERE e.enumtypid = t.oid),
       CASE WHEN t.typtype = 'd' THEN t.typbasetype::int END,
       format_type(t.typbasetype, t.typtypmod),
       t.typnotnull,
       (SELECT json_agg(json_build_array(c.conname, pg_get_constraintdef(c.oid))
                        ORDER BY c.conname)
          FROM pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c'),
       (SELECT json_agg(json_build_array(a.attname, a.atttypid::int,
                                         format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
          FROM pg_attribute a
          WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0
            AND NOT a.attisdropped),
       r.rngsubtype::int, format_type(r.rngsubtype, NULL),
       mn.nspname, m.typname,
       CASE WHEN r.rngsubdiff <> 0 THEN fn.nspname END,
       CASE WHEN r.rngsubdiff <> 0 THEN f.proname END,
       CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::regproc::text END,
       (SELECT r2.rngtypid::int FROM pg_range r2 WHERE r2.rngmultitypid = t.oid),
       (SELECT x.extname FROM pg_depend dp JOIN pg_extension x ON x.oid = dp.refobjid
          WHERE dp.classid = 'pg_type'::regclass AND dp.objid = t.oid AND dp.deptype = 'e'
          LIMIT 1)
FROM reach
JOIN pg_type t ON t.oid = reach.oid
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_range r ON r.rngtypid = t.oid
LEFT JOIN pg_type m ON m.oid = r.rngmultitypid
LEFT JOIN pg_namespace mn ON mn.oid = m.typnamespace
LEFT JOIN pg_proc f ON f.oid = r.rngsubdiff
LEFT JOIN pg_namespace fn ON fn.oid = f.pronamespace
"""
)


@dataclass(frozen=True)
class _Row:
    """One row of _TYPES_SQL, named."""

    oid: int
    schema: str
    name: str
    typtype: str
    element: int | None
    user_defined: bool
    labels: list[str] | None
    domain_base: int | None
    domain_base_formatted: str
    not_null: bool
    checks: list[list[str]] | None
    fields: list[list[Any]] | None
    subtype: int | None
    subtype_formatted: str | None
    multirange_schema: str | None
    multirange_name: str | None
    subdiff_schema: str | None
    subdiff_name: str | None
    canonical: str | None
    range_of_multirange: int | None
    extension: str | None


def read_types(conn: psycopg.Connection[Any], oids: Iterable[int]) -> TypeCatalog:
    """The user-defined types that columns of types ``oids`` are built on, with their parts."""
    rows = [_Row(*r) for r in conn.execute(_TYPES_SQL, {"oids": sorted(set(oids))})]
    # An array of a user type is named by its element, never created: it comes with it.
    user = {r.oid: r for r in rows if r.user_defined and r.typtype in _KINDS and r.element is None}
    elements = {r.oid: r.element for r in rows if r.element is not None and r.element in user}
    # Naming needs every user type known first: a type's parts are rendered with it.
    named = TypeCatalog(
        types={oid: UserType(schema=r.schema, name=r.name, kind=_KINDS[r.typtype])
               for oid, r in user.items()},
        array_elements=elements,
    )  # fmt: skip
    return TypeCatalog(
        types={oid: _user_type(r, named) for oid, r in user.items()}, array_elements=elements
    )


def _user_type(row: _Row, named: TypeCatalog) -> UserType:
    def text(ref: TypeRef) -> str:
        return named.render(ref).as_string(None)

    def key_of(oid: int | None) -> list[tuple[str, str]]:
        oid = named.array_elements.get(oid or 0, oid)
        found = named.types.get(oid or 0)
        return [] if found is None else [(found.schema, found.name)]

    kind = _KINDS[row.typtype]
    fields: tuple[tuple[str, str], ...] = ()
    depends: list[tuple[str, str]] = []
    base_text = ""
    if kind is TypeKind.DOMAIN and row.domain_base is not None:
        base_text = text(TypeRef(row.domain_base, row.domain_base_formatted))
        depends += key_of(row.domain_base)
    if kind is TypeKind.RANGE and row.subtype is not None:
        base_text = text(TypeRef(row.subtype, row.subtype_formatted or ""))
        depends += key_of(row.subtype)
    if kind is TypeKind.COMPOSITE:
        fields = tuple((n, text(TypeRef(oid, formatted))) for n, oid, formatted in row.fields or [])
        for _, oid, _ in row.fields or []:
            depends += key_of(oid)
    if kind is TypeKind.MULTIRANGE:
        depends += key_of(row.range_of_multirange)
    return UserType(
        schema=row.schema,
        name=row.name,
        kind=kind,
        labels=tuple(row.labels or ()),
        base=base_text,
        not_null=row.not_null if kind is TypeKind.DOMAIN else False,
        checks=tuple((name, definition) for name, definition in row.checks or []),
        fields=fields,
        multirange=_pair(row.multirange_schema, row.multirange_name),
        subtype_diff=_pair(row.subdiff_schema, row.subdiff_name),
        canonical=row.canonical,
        extension=row.extension,
        depends_on=tuple(dict.fromkeys(depends)),
    )


def _pair(schema: str | None, name: str | None) -> tuple[str, str] | None:
    return None if schema is None or name is None else (schema, name)


_FIND_SQL = """
SELECT to_regtype(format('%%I.%%I', s, n))::oid::int
FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS q(s, n)
"""


def find_types(
    conn: psycopg.Connection[Any], names: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], UserType]:
    """The types of ``conn`` named (schema, name) that exist, by name, with their definitions."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    found = conn.execute(
        _FIND_SQL, {"schemas": [s for s, _ in wanted], "names": [n for _, n in wanted]}
    ).fetchall()
    oids = [row[0] for row in found if row[0] is not None]
    return {key: t for key, t in read_types(conn, oids).by_name().items() if key in set(wanted)}
