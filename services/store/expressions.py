"""A select definition's SQL, checked by core before anything is written (contract rule 19).

Core compiles the read's expressions over the source without reading a row
(``LIMIT 0``, sent by the extended protocol, which takes one statement only)
and says each one's type. An expression that does not compile, or whose type
the destination column cannot take (services/store/type_paths.py, the same
rule as a column copied unchanged: same substance, bytes; a lossless text
form, text; else refused), is a problem naming the column and the expression.
A conflict column's bare-column expression (``"old_id": '"id"'``) is proven to
be that source column by what core says the result column comes from, so the
key mapping backfills and ``--verify --keys`` use is never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.base import ExportDefinition, bare_column, first_line
from services.store.catalog import Table
from services.store.sql import ident, read_only_guard, user_sql
from services.store.type_paths import ColumnPath, describe, travel
from services.store.type_shapes import TypeShape, read_shapes

# The source column each result column of a compiled query is, where it is one.
_COLUMN_NAMES_SQL = "SELECT attname::text FROM pg_attribute WHERE attrelid = %s AND attnum = %s"


@dataclass(frozen=True)
class Compiled:
    """What core says of one expression: its type, and the column it is, if a bare one."""

    type_oid: int
    typmod: int
    table_oid: int
    column_number: int


def _shown(text: str) -> str:
    """An expression as a one-line message shows it."""
    return " ".join(text.split())


def _compile(
    core: psycopg.Connection[Any], source: Table, columns: sql.Composable, where: str | None
) -> list[Compiled]:
    """Compile ``SELECT columns FROM source [WHERE where] LIMIT 0`` on core; the columns'
    types and origins. Raises the server's error."""
    filters: list[sql.Composable] = [read_only_guard()]
    if where is not None:
        filters.append(user_sql(where))
    query = sql.SQL("SELECT {} FROM {} WHERE {} LIMIT 0").format(
        columns, ident(source.schema, source.name), sql.SQL(" AND ").join(filters)
    )
    with core.transaction(), core.cursor(binary=True) as cur:  # binary: extended protocol
        cur.execute(query)
        result = cur.pgresult
        assert result is not None
        return [
            Compiled(result.ftype(i), result.fmod(i), result.ftable(i), result.ftablecol(i))
            for i in range(result.nfields)
        ]


def _where_problems(core: psycopg.Connection[Any], where: str, source: Table) -> list[str]:
    try:
        _compile(core, source, sql.SQL("1"), where)
    except psycopg.Error as exc:
        return [f"source.where ({_shown(where)}) does not compile on core: {first_line(exc)}"]
    return []


def _one(name: str, text: str) -> sql.Composable:
    return sql.SQL("{} AS {}").format(user_sql(text), ident(name))


def compile_select(
    core: psycopg.Connection[Any], definition: ExportDefinition, source: Table
) -> tuple[dict[str, Compiled], list[str]]:
    """Each select expression compiled on core, by destination column; or the problems
    (each naming the column and the expression) when one does not compile."""
    select = definition.select or {}
    where = definition.source.where
    problems = [] if where is None else _where_problems(core, where, source)
    if problems or not select:
        return {}, problems
    names = list(select)
    columns = sql.SQL(", ").join(_one(n, select[n]) for n in names)
    try:
        compiled = _compile(core, source, columns, None)
    except psycopg.Error:
        return {}, [p for n in names if (p := _compile_problem(core, source, n, select[n]))]
    if len(compiled) != len(names):  # the frame keeps this from happening; never trust it
        return {}, [f"select gives {len(compiled)} column(s) for {len(names)} expression(s)"]
    return dict(zip(names, compiled, strict=True)), []


def _compile_problem(
    core: psycopg.Connection[Any], source: Table, name: str, text: str
) -> str | None:
    try:
        _compile(core, source, _one(name, text), None)
    except psycopg.Error as exc:
        return f"select {name!r} ({_shown(text)}) does not compile on core: {first_line(exc)}"
    return None


def key_problems(
    core: psycopg.Connection[Any], definition: ExportDefinition, compiled: dict[str, Compiled]
) -> list[str]:
    """A conflict column written as a bare column that core does not read as that source
    column (``user`` unquoted is CURRENT_USER): the key mapping would be wrong."""
    select = definition.select or {}
    problems = []
    for key in definition.destination.conflict_columns:
        bare = bare_column(select[key])
        if bare is None:
            continue
        found = compiled[key]
        row = core.execute(_COLUMN_NAMES_SQL, (found.table_oid, found.column_number)).fetchone()
        if row is None or row[0] != bare[0]:
            problems.append(
                f"select {key!r} ({_shown(select[key])}) is not the source column {bare[0]!r}:"
                ' quote it ("...") to name the column'
            )
    return problems


def expression_paths(
    core: psycopg.Connection[Any],
    definition: ExportDefinition,
    compiled: dict[str, Compiled],
    destination: Table,
) -> list[ColumnPath]:
    """How each select expression's values travel into its destination column; a path of
    None says why it cannot, naming the column and the expression."""
    shapes = read_shapes(core, [(c.type_oid, c.typmod) for c in compiled.values()])
    select = definition.select or {}
    paths = []
    for name, found in compiled.items():
        shape = shapes[(found.type_oid, found.typmod)]
        paths.append(_path(name, select[name], shape, destination.columns[name].shape))
    return paths


def _path(name: str, text: str, source: TypeShape, dest: TypeShape) -> ColumnPath:
    if not all(n.accepts_input for n in dest.walk()):
        reason = f"analytics column {name!r} is {describe(dest)}, which takes no value"
        return ColumnPath(name, source, dest, None, reason)
    path = travel(source, dest)
    if path is not None:
        return ColumnPath(name, source, dest, path)
    reason = (
        f"select {name!r} ({_shown(text)}) is {describe(source)} but analytics column"
        f" {name!r} is {describe(dest)}: no conversion keeps every value (cast the expression"
        " or change the column)"
    )
    return ColumnPath(name, source, dest, None, reason)
