"""``scaffold --alter NAME...``: the migration adding to each definition's destination the
columns core gained since it was made; columns whose type changed are reported with the
``ALTER ... TYPE`` they would take, commented out, for a person to decide."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from services.base import ConfigurationError, ExportDefinition
from services.scaffold._ddl import (
    column_definition,
    create_type,
    drop_type,
    labels_to_add,
    types_to_create,
)
from services.scaffold._migration import Migration, slug_of
from services.scaffold._tables import TableColumn, TableShape, read_table
from services.store import TypeCatalog, UserType, find_types, read_types


@dataclass
class _Drift:
    """What one definition's destination lacks or holds differently."""

    name: str
    dest: sql.Identifier
    added: list[TableColumn] = field(default_factory=list)
    retyped: list[tuple[TableColumn, str]] = field(default_factory=list)  # (core's, analytics')


@dataclass(frozen=True)
class Alter:
    """An --alter's result: the migration (None when nothing drifted) and what it found."""

    migration: Migration | None
    added: dict[str, list[str]]  # definition -> columns added
    retyped: dict[str, list[str]]  # definition -> columns whose type changed in core
    grown: list[str] = field(default_factory=list)  # enums given core's new labels
    unlike: list[str] = field(default_factory=list)  # types that differ otherwise


@dataclass(frozen=True)
class _TypeDrift:
    """How the user types the read columns use differ between core and analytics."""

    statements: list[sql.Composable | str]  # ADD VALUE for enums core gave new labels
    grown: dict[tuple[str, str], UserType]  # those enums, as they will be
    unlike: list[tuple[UserType, UserType]]  # (core's, analytics') that differ otherwise


def _type_drift(used: TypeCatalog, present: dict[tuple[str, str], UserType]) -> _TypeDrift:
    statements: list[sql.Composable | str] = []
    grown: dict[tuple[str, str], UserType] = {}
    unlike: list[tuple[UserType, UserType]] = []
    for key, ours in used.by_name().items():
        theirs = present.get(key)
        if theirs is None or ours.same_as(theirs):
            continue
        added = labels_to_add(ours, theirs)
        if added is None:
            unlike.append((ours, theirs))
        else:
            statements += added
            grown[key] = ours
    return _TypeDrift(statements, grown, unlike)


def _unlike_notes(unlike: list[tuple[UserType, UserType]]) -> list[sql.Composable | str]:
    return [
        f"-- core type {ours.qualified} is {ours.describe()} but analytics's is"
        f" {theirs.describe()}: a person must change analytics's (its values may need mapping)"
        for ours, theirs in unlike
    ]


def _tables(
    core: psycopg.Connection[Any],
    analytics: psycopg.Connection[Any],
    name: str,
    definition: ExportDefinition,
) -> tuple[TableShape, TableShape]:
    if definition.transform is not None or getattr(definition, "select", None) is not None:
        raise ConfigurationError(
            f"{name}: its destination's columns are its transform's (or select's), not core's"
            " by name; add them with a migration written by hand"
        )
    src, dst = definition.source, definition.destination
    source = read_table(core, src.schema_, src.table)
    dest = read_table(analytics, dst.schema_, dst.table)
    if source is None:
        raise ConfigurationError(f"{name}: core table {src.schema_}.{src.table} does not exist")
    if dest is None:
        raise ConfigurationError(
            f"{name}: analytics table {dst.schema_}.{dst.table} does not exist: `python"
            f" run_job.py scaffold {src.schema_}.{src.table}` makes the migration creating it"
        )
    return source, dest


def _drift(name: str, definition: ExportDefinition, source: TableShape, dest: TableShape,
           core_types: TypeCatalog, dest_types: TypeCatalog) -> _Drift:  # fmt: skip
    wanted = definition.source_columns or [c.name for c in source.columns]
    drift = _Drift(name, sql.Identifier(dest.schema, dest.name))
    for column in (c for c in source.columns if c.name in wanted):
        there = dest.column(column.name)
        if there is None:
            drift.added.append(column)
            continue
        # Types named alike on both servers (user types qualified) are compared as text;
        # same-named user types are compared by definition in types_to_create.
        ours = core_types.render(column.type).as_string(None)
        theirs = dest_types.render(there.type).as_string(None)
        if ours != theirs:
            drift.retyped.append((column, theirs))
    return drift


def _statements(drift: _Drift, core_types: TypeCatalog) -> list[sql.Composable | str]:
    lines: list[sql.Composable | str] = []
    if drift.added:
        adds = sql.SQL(",\n    ").join(
            sql.SQL("ADD COLUMN {}").format(column_definition(c, core_types, not_null=False))
            for c in drift.added
        )
        lines += [sql.SQL("ALTER TABLE {}\n    {};").format(drift.dest, adds)]
        lines += [
            f"-- {c.name} is NOT NULL in core; not here, as the rows synced before have no value"
            " for it until they are read again"
            for c in drift.added
            if c.not_null
        ]
    for column, theirs in drift.retyped:
        new = core_types.render(column.type)
        statement = sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{};").format(
            drift.dest, sql.Identifier(column.name), new, sql.Identifier(column.name), new
        )
        lines += [
            f"-- {column.name} is {new.as_string(None)} in core but {theirs} here; to follow core"
            " (it rewrites the table, and fails where a value does not convert), uncomment:",
            "-- " + statement.as_string(None),
        ]
    return lines


def alter_definitions(
    core: psycopg.Connection[Any],
    analytics: psycopg.Connection[Any],
    definitions: dict[str, ExportDefinition],
) -> Alter:
    """The migration that brings each definition's destination level with core's columns."""
    drifts: list[_Drift] = []
    new_type_oids: list[int] = []
    read_type_oids: list[int] = []
    shapes = {n: _tables(core, analytics, n, d) for n, d in definitions.items()}
    core_types = read_types(core, [c.type.oid for s, _ in shapes.values() for c in s.columns])
    dest_types = read_types(analytics, [c.type.oid for _, d in shapes.values() for c in d.columns])
    for name, definition in definitions.items():
        drift = _drift(name, definition, *shapes[name], core_types, dest_types)
        drifts.append(drift)
        new_type_oids += [c.type.oid for c in drift.added]
        wanted = definition.source_columns
        read_type_oids += [
            c.type.oid for c in shapes[name][0].columns if wanted is None or c.name in wanted
        ]
    used = read_types(core, read_type_oids)
    types = _type_drift(used, find_types(analytics, used.by_name()))
    added_types = read_types(core, new_type_oids)
    present = {**find_types(analytics, added_types.by_name()), **types.grown}
    creating = types_to_create(added_types, present)
    if not any(d.added or d.retyped for d in drifts) and not types.statements + types.unlike:
        return Alter(None, {}, {})
    up: list[sql.Composable | str] = [
        *types.statements,
        *_unlike_notes(types.unlike),
        *(create_type(t) for t in creating),
    ]
    down: list[sql.Composable | str] = []
    for drift in drifts:
        if drift.added or drift.retyped:
            up += ["", f"-- {drift.name}", *_statements(drift, core_types)]
        if drift.added:
            drops = sql.SQL(", ").join(
                sql.SQL("DROP COLUMN {}").format(sql.Identifier(c.name)) for c in drift.added
            )
            down.append(sql.SQL("ALTER TABLE {} {};").format(drift.dest, drops))
    down += [drop_type(t) for t in reversed(creating)]
    if types.statements:
        down.append("-- (an enum's added labels stay: PostgreSQL cannot remove one)")
    header = [
        f"-- Made by `python run_job.py scaffold --alter {' '.join(definitions)}`: the columns"
        " core gained since these destinations were made."
    ]
    migration = Migration(slug=slug_of(["alter", *definitions]), header=header, up=up, down=down)
    return Alter(
        migration,
        added={d.name: [c.name for c in d.added] for d in drifts if d.added},
        retyped={d.name: [c.name for c, _ in d.retyped] for d in drifts if d.retyped},
        grown=[t.qualified for t in types.grown.values()],
        unlike=[ours.qualified for ours, _ in types.unlike],
    )
