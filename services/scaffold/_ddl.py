"""The statements of a scaffold migration, composed with quoted identifiers only.

Types are created in analytics in the schema core has them in, under the same name, so a
column's type is spelt alike on both servers and the names resolve alike in any query.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg import sql

from services.base import ConfigurationError
from services.scaffold._tables import TableColumn, TableShape
from services.store import TypeCatalog, TypeKind, UserType


def types_to_create(
    core: TypeCatalog, analytics: dict[tuple[str, str], UserType]
) -> list[UserType]:
    """The types of ``core`` that analytics lacks, in creation order; ConfigurationError
    when analytics has a same-named type of another definition, or lacks one scaffold
    cannot make (an extension's base type, a range with a canonical function)."""
    problems: list[str] = []
    missing: list[UserType] = []
    for wanted in core.in_creation_order():
        present = analytics.get((wanted.schema, wanted.name))
        if present is not None:
            if not wanted.same_as(present):
                problems.append(_differs(wanted, present))
        elif wanted.kind is TypeKind.BASE:
            ext = wanted.extension
            fix = f"run CREATE EXTENSION {ext} there first" if ext else "create it there first"
            problems.append(
                f"analytics has no type {wanted.qualified} ({wanted.describe()}): {fix}"
            )
        elif wanted.canonical is not None:
            problems.append(
                f"analytics has no type {wanted.qualified}, a range with canonical function"
                f" {wanted.canonical} that scaffold cannot create: create it there first"
            )
        elif wanted.kind is not TypeKind.MULTIRANGE:  # a range makes its multirange
            missing.append(wanted)
    if problems:
        raise ConfigurationError("; ".join(problems), problems=problems)
    return missing


def _differs(core: UserType, analytics: UserType) -> str:
    return (
        f"core type {core.qualified} is {core.describe()} but analytics type"
        f" {analytics.qualified} is {analytics.describe()}: a column of that type would not"
        " hold the same values; make analytics's type match core's, or drop it, and scaffold"
        " again"
    )


def _name(t: UserType) -> sql.Identifier:
    return sql.Identifier(t.schema, t.name)


def create_type(t: UserType) -> sql.Composed:
    """``CREATE TYPE`` / ``CREATE DOMAIN`` with ``t``'s definition."""
    if t.kind is TypeKind.ENUM:
        labels = sql.SQL(", ").join(sql.Literal(label) for label in t.labels)
        return sql.SQL("CREATE TYPE {} AS ENUM ({});").format(_name(t), labels)
    if t.kind is TypeKind.COMPOSITE:
        fields = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(typ)) for n, typ in t.fields
        )
        return sql.SQL("CREATE TYPE {} AS ({});").format(_name(t), fields)
    if t.kind is TypeKind.RANGE:
        options = [sql.SQL("SUBTYPE = {}").format(sql.SQL(t.base))]
        if t.subtype_diff is not None:
            options.append(sql.SQL("SUBTYPE_DIFF = {}").format(sql.Identifier(*t.subtype_diff)))
        if t.multirange is not None:
            options.append(
                sql.SQL("MULTIRANGE_TYPE_NAME = {}").format(sql.Identifier(*t.multirange))
            )
        return sql.SQL("CREATE TYPE {} AS RANGE ({});").format(
            _name(t), sql.SQL(", ").join(options)
        )
    assert t.kind is TypeKind.DOMAIN, t.kind
    parts: list[sql.Composable] = [
        sql.SQL("CREATE DOMAIN {} AS {}").format(_name(t), sql.SQL(t.base))
    ]
    if t.not_null:
        parts.append(sql.SQL("NOT NULL"))
    # A check's text is pg_get_constraintdef()'s, from core's catalog.
    parts += [
        sql.SQL("CONSTRAINT {} {}").format(sql.Identifier(name), sql.SQL(definition))
        for name, definition in t.checks
    ]
    return sql.Composed([sql.SQL(" ").join(parts), sql.SQL(";")])


def labels_to_add(core: UserType, analytics: UserType) -> list[sql.Composed] | None:
    """``ALTER TYPE ... ADD VALUE`` for each label core's enum has that analytics's lacks,
    each in its place; None unless analytics's labels are core's less some, in core's order
    (an enum's labels can only be added to: one removed or moved is for a person)."""
    if core.kind is not TypeKind.ENUM or analytics.kind is not TypeKind.ENUM:
        return None
    have = iter(core.labels)
    if not all(label in have for label in analytics.labels):  # a subsequence, in order
        return None
    statements = []
    for i, label in enumerate(core.labels):
        if label in analytics.labels:
            continue
        where = sql.SQL("AFTER {}").format(sql.Literal(core.labels[i - 1])) if i else (
            sql.SQL("BEFORE {}").format(sql.Literal(core.labels[1]))
            if len(core.labels) > 1 else sql.SQL("")
        )  # fmt: skip
        statements.append(
            sql.SQL("ALTER TYPE {} ADD VALUE {} {};").format(_name(core), sql.Literal(label), where)
        )
    return statements


def drop_type(t: UserType) -> sql.Composed:
    """The statement that undoes ``create_type(t)``."""
    keyword = "DOMAIN" if t.kind is TypeKind.DOMAIN else "TYPE"
    return sql.SQL("DROP {} {};").format(sql.SQL(keyword), _name(t))


def column_definition(column: TableColumn, types: TypeCatalog, *, not_null: bool) -> sql.Composed:
    """``"name" type [NOT NULL]``: no default, no identity, no generation expression."""
    definition = sql.SQL("{} {}").format(sql.Identifier(column.name), types.render(column.type))
    return sql.Composed([definition, sql.SQL(" NOT NULL")]) if not_null else definition


def create_table(table: TableShape, dest: sql.Identifier, types: TypeCatalog) -> sql.Composed:
    """``CREATE TABLE`` of ``table``'s columns in order, NOT NULL kept, its primary key."""
    lines = [column_definition(c, types, not_null=c.not_null) for c in table.columns]
    lines.append(
        sql.SQL("PRIMARY KEY ({})").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in table.primary_key)
        )
    )
    body = sql.SQL(",\n    ").join(lines)
    return sql.SQL("CREATE TABLE {} (\n    {}\n);").format(dest, body)


def create_schemas(schemas: Iterable[str]) -> list[sql.Composed]:
    """``CREATE SCHEMA IF NOT EXISTS`` for each schema, in order."""
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {};").format(sql.Identifier(s))
        for s in dict.fromkeys(schemas)
    ]
