"""Check a definition against both databases before anything is written (guarantee 11 of
docs/guarantees.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from services.base import (
    DEFAULT_DESTINATION_SCHEMA,
    RUNNER_SCHEMA,
    Databases,
    ExportDefinition,
    PreflightError,
    did_you_mean,
)
from services.store.catalog import Table, TableName, find_table, find_tables
from services.store.expressions import Compiled, compile_select, expression_paths, key_problems
from services.store.plan import CopyMode, SyncPlan
from services.store.tie_breaker import tie_breaker_problem
from services.store.type_paths import BINARY, ColumnPath, column_path

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "db" / "migrations"
_FIX_SCHEMA = "add it with a dbmate migration in db/migrations and run `dbmate up`"


# One round trip for the runner's tables and dbmate's: which exist.
_RUNNER_TABLES_SQL = """
SELECT to_regclass(format('%%I.positions', %(schema)s::text)) IS NOT NULL,
       to_regclass(format('%%I.runs', %(schema)s::text)) IS NOT NULL,
       to_regclass('public.schema_migrations') IS NOT NULL
"""


def check_runner_tables(analytics: psycopg.Connection[Any]) -> list[str]:
    """Problems with the runner's own tables: missing, or migrations pending."""
    row = analytics.execute(_RUNNER_TABLES_SQL, {"schema": RUNNER_SCHEMA}).fetchone()
    assert row is not None
    missing = [t for t, exists in zip(("positions", "runs"), row[:2], strict=True) if not exists]
    if missing:
        return [
            f"analytics is not migrated: table {RUNNER_SCHEMA}.{missing[0]} does not exist;"
            " run `dbmate --env DATABASE_URL_ANALYTICS up`"
        ]
    pending = _pending(analytics, migrations_table=bool(row[2]))
    if pending:
        return [
            f"analytics has {len(pending)} pending migration(s) ({', '.join(pending)});"
            " run `dbmate --env DATABASE_URL_ANALYTICS up`"
        ]
    return []


def _pending(analytics: psycopg.Connection[Any], *, migrations_table: bool) -> list[str]:
    versions = sorted(p.name.split("_", 1)[0] for p in MIGRATIONS_DIR.glob("*.sql"))
    if not versions or not migrations_table:
        return versions
    applied = {r[0] for r in analytics.execute("SELECT version FROM schema_migrations")}
    return [v for v in versions if v not in applied]


def _source_problems(definition: ExportDefinition, source: Table) -> list[str]:
    cursor = definition.source.cursor
    wanted = [cursor.field, *cursor.id_fields]
    if definition.source_columns:
        wanted += definition.source_columns
    problems = [
        f"core table {source.qualified} has no column {name!r}" + did_you_mean(name, source.columns)
        for name in dict.fromkeys(wanted)
        if name not in source.columns
    ]
    if not problems:
        tie = tie_breaker_problem(cursor, source)
        problems += [] if tie is None else [tie]
    soft_delete = definition.source.soft_delete
    if soft_delete is not None and soft_delete.field not in source.columns:
        problems.append(
            f"core table {source.qualified} has no soft-delete column {soft_delete.field!r}"
            + did_you_mean(soft_delete.field, source.columns)
        )
    for key, name in (definition.destination.key_source or {}).items():
        if name not in source.columns:
            problems.append(
                f"core table {source.qualified} has no column {name!r} (key_source of {key!r})"
            )
    return problems


def _scaffold_hint(definition: ExportDefinition) -> str:
    """For a definition that copies core's columns by name, the command that writes it."""
    src, dst = definition.source, definition.destination
    if definition.transform is not None or definition.select or src.table != dst.table:
        return ""  # scaffold names a destination after its source, with core's columns
    schema = "" if dst.schema_ == DEFAULT_DESTINATION_SCHEMA else f" --dest-schema {dst.schema_}"
    return f" (`python run_job.py scaffold{schema} {src.schema_}.{src.table}` writes one)"


def _drift_fix(job: str, name: str) -> str:
    """The command that writes the migration adding the columns core gained (rule 12)."""
    job_option = "" if job == "export-to-pg" else f" --job {job}"
    return (
        f"`python run_job.py scaffold --alter{job_option} {name}` writes the migration that adds"
        " them; then run `dbmate up`"
    )


def _destination_problems(
    definition: ExportDefinition, selected: list[str], destination: Table, fix_drift: str
) -> list[str]:
    problems = []
    keys = definition.destination.conflict_columns
    for name in keys:
        if name not in destination.columns:
            problems.append(
                f"analytics table {destination.qualified} has no conflict column {name!r}"
                + did_you_mean(name, destination.columns)
            )
    if not problems and frozenset(keys) not in destination.unique_keys:
        problems.append(
            f"analytics table {destination.qualified} has no unique index on ({', '.join(keys)}):"
            f" {_FIX_SCHEMA.replace('add it', 'add one')}"
        )
    if definition.select is not None:
        problems += _select_destination_problems(definition.select, destination)
    elif definition.transform is None:
        for name in selected:
            column = destination.columns.get(name)
            if column is None:
                problems.append(
                    f"analytics table {destination.qualified} lacks source column {name!r}"
                    f" that core has: {fix_drift}"
                )
            elif column.generated:
                problems.append(
                    f"analytics column {destination.qualified}.{name} is generated and cannot be"
                    " written"
                )
    return problems


def _select_destination_problems(select: dict[str, str], destination: Table) -> list[str]:
    problems = []
    for name, expression in select.items():
        column = destination.columns.get(name)
        if column is None:
            problems.append(
                f"analytics table {destination.qualified} has no column {name!r} (select"
                f" {name!r}: {expression})" + did_you_mean(name, destination.columns)
            )
        elif column.generated:
            problems.append(
                f"analytics column {destination.qualified}.{name} is generated and cannot be"
                " written (select)"
            )
    return problems


def _column_paths(
    definition: ExportDefinition, selected: list[str], source: Table, dest: Table
) -> list[ColumnPath]:
    """How each selected column travels; none with a transform (it makes the values)."""
    if definition.transform is not None or definition.select is not None:
        return []
    return [
        column_path(name, source.columns[name].shape, dest.columns[name].shape) for name in selected
    ]


def _copy_mode(definition: ExportDefinition, paths: list[ColumnPath]) -> CopyMode:
    """Binary when every column may go as bytes; else text (COPY has one format)."""
    if definition.transform is not None:
        return CopyMode.PYTHON
    return CopyMode.BINARY if all(p.path == BINARY for p in paths) else CopyMode.TEXT


@dataclass(frozen=True)
class KnownTables:
    """Tables of both catalogs read at once for many definitions (the status view, the
    console's pages), so each definition's check asks the catalogs for nothing more."""

    core: Mapping[TableName, Table | None] = field(default_factory=dict)
    analytics: Mapping[TableName, Table | None] = field(default_factory=dict)

    @classmethod
    def read(
        cls,
        core: psycopg.Connection[Any],
        analytics: psycopg.Connection[Any],
        *,
        sources: Iterable[ExportDefinition],
        destinations: Iterable[ExportDefinition],
    ) -> KnownTables:
        """The source tables of ``sources`` and destination tables of ``destinations``."""
        source_names = [(d.source.schema_, d.source.table) for d in sources]
        dest_names = [(d.destination.schema_, d.destination.table) for d in destinations]
        return cls(find_tables(core, source_names), find_tables(analytics, dest_names))

    def source(self, core: psycopg.Connection[Any], definition: ExportDefinition) -> Table | None:
        """``definition``'s source table: as read, else from core's catalog now."""
        src = definition.source
        return _known_or_found(core, self.core, (src.schema_, src.table))

    def destination(
        self, analytics: psycopg.Connection[Any], definition: ExportDefinition
    ) -> Table | None:
        """``definition``'s destination table: as read, else from analytics' catalog now."""
        dst = definition.destination
        return _known_or_found(analytics, self.analytics, (dst.schema_, dst.table))


def _known_or_found(
    conn: psycopg.Connection[Any], known: Mapping[TableName, Table | None], name: TableName
) -> Table | None:
    return known[name] if name in known else find_table(conn, *name)


def plan_definition(
    job: str,
    name: str,
    definition: ExportDefinition,
    *,
    core: psycopg.Connection[Any],
    analytics: psycopg.Connection[Any],
    runner_tables: bool = True,
    known: KnownTables | None = None,
) -> SyncPlan:
    """Resolve ``definition`` against both catalogs; PreflightError lists every problem.

    Reads the catalogs only (no table is scanned), so the status view and the console
    run it for each definition they show; they check the runner's tables once for all
    (``runner_tables=False`` leaves that out) and read every definition's tables at once
    (``known``).
    """
    problems = check_runner_tables(analytics) if runner_tables else []
    src, dst = definition.source, definition.destination
    known = known or KnownTables()
    source = known.source(core, definition)
    destination = known.destination(analytics, definition)
    if source is None:
        problems.append(f"core table {src.schema_}.{src.table} does not exist")
    if destination is None:
        problems.append(
            f"analytics table {dst.schema_}.{dst.table} does not exist: create it with a dbmate"
            " migration in db/migrations and run `dbmate up`" + _scaffold_hint(definition)
        )
    selected: list[str] = []
    compiled: dict[str, Compiled] = {}
    if source is not None:
        problems += _source_problems(definition, source)
        selected = list(definition.select or definition.source_columns or source.columns)
    if source is not None and not problems:
        compiled, found = compile_select(core, definition, source)
        problems += found or (key_problems(core, definition, compiled) if compiled else [])
    paths: list[ColumnPath] = []
    if source is not None and destination is not None and not problems:
        problems += _destination_problems(definition, selected, destination, _drift_fix(job, name))
    if source is not None and destination is not None and not problems:
        paths = _column_paths(definition, selected, source, destination)
        if compiled:
            paths = expression_paths(core, definition, compiled, destination)
        problems += [p.reason for p in paths if p.path is None]
    if problems:
        # Each problem becomes its own error: line, so each names the definition.
        named = [f"{name}: {p}" for p in problems]
        raise PreflightError("; ".join(named), problems=named)
    assert source is not None and destination is not None
    return SyncPlan(
        job=job,
        name=name,
        definition=definition,
        source=source,
        destination=destination,
        selected=selected,
        mode=_copy_mode(definition, paths),
        paths=tuple(paths),
    )


@contextmanager
def planned(
    dbs: Databases,
    job: str,
    name: str,
    definition: ExportDefinition,
    *,
    wait_s: float | None = None,
) -> Iterator[tuple[SyncPlan, psycopg.Connection[Any], psycopg.Connection[Any]]]:
    """``name`` planned over a connection to each database, both in autocommit: (plan,
    core, analytics), the way every operation beside a run starts (PreflightError like a
    run's). ``wait_s`` bounds the wait for a pooled connection (the pools' own by default)."""
    with (
        dbs.analytics.connection(timeout=wait_s) as analytics,
        dbs.core.connection(timeout=wait_s) as core,
    ):
        analytics.autocommit = core.autocommit = True
        plan = plan_definition(job, name, definition, core=core, analytics=analytics)
        yield plan, core, analytics
