"""--full-refresh: rebuild a destination from scratch while readers keep the old one.

The new table is built aside, ``CREATE TABLE ... (LIKE dest INCLUDING ALL)``,
by an ordinary sync run (its own lock, position and run records, named
``<definition> (full refresh)``). A build that fails or is killed leaves the
old table in service; the next ``--full-refresh`` starts the build afresh.
Then, in one analytics transaction under the definition's lock, the old table
is dropped, the new one renamed into its place with its indexes and identity
sequences renamed back, and the definition's position set to where the build
stopped. A reader sees the old table or the new one, never an empty or
partial one: a query that arrives during the swap waits for its commit.

Kept: columns, defaults, NOT NULL and CHECK constraints, indexes, identity,
comments, storage (LIKE INCLUDING ALL) and the table's grants. Not kept:
triggers, row-level security policies, publication membership, ownership by
another role, and surrogate values the destination fills itself (identity or
serial columns are numbered afresh). Views or foreign keys that depend on the
destination make the refresh refuse: they would keep pointing at the old table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.base import (
    Databases,
    ExportDefinition,
    PreflightError,
    RunIdentity,
    RunResult,
    RunSettings,
    forget_position,
    load_position,
    save_position,
)
from services.store import (
    SyncPlan,
    definition_lock,
    forget_backfill,
    planned,
    record_operation,
)
from services.store import sql as q
from services.sync import process_definition

NEW_SUFFIX = "__tablesync_new"
_MAX_IDENTIFIER_BYTES = 63
Conn = psycopg.Connection[Any]

_DEPENDENTS_SQL = """
SELECT DISTINCT 'view ' || v.oid::regclass::text
FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
WHERE d.refobjid = %(table)s::regclass AND v.oid <> d.refobjid
UNION
SELECT 'foreign key ' || c.conname || ' of ' || c.conrelid::regclass::text
FROM pg_constraint c WHERE c.confrelid = %(table)s::regclass AND c.conrelid <> c.confrelid
ORDER BY 1
"""
_GRANTS_SQL = """
SELECT coalesce(r.rolname, 'PUBLIC'), a.privilege_type, a.is_grantable
FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
LEFT JOIN pg_roles r ON r.oid = a.grantee
WHERE c.oid = %s::regclass AND a.grantee <> c.relowner
"""
_RENAMEABLE_SQL = """
SELECT CASE c.relkind WHEN 'i' THEN 'INDEX' ELSE 'SEQUENCE' END, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname LIKE %s AND c.relkind IN ('i', 'S')
"""
_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}


def refresh_name(name: str) -> str:
    """The definition name of the build run: its own position, lock and run records."""
    return f"{name} (full refresh)"


def aside_name(table: str) -> str:
    """The name the new table is built under, within PostgreSQL's 63-byte limit."""
    room = _MAX_IDENTIFIER_BYTES - len(NEW_SUFFIX.encode())
    return table.encode()[:room].decode(errors="ignore") + NEW_SUFFIX


def _text(conn: Conn, composed: sql.Composable) -> str:
    return composed.as_string(conn)


def _aside(plan: SyncPlan) -> sql.Identifier:
    return q.ident(plan.destination.schema, aside_name(plan.destination.name))


def dependents(analytics: Conn, plan: SyncPlan) -> list[str]:
    """Views and foreign keys that point at the destination table."""
    table = _text(analytics, q.destination_table(plan))
    return [r[0] for r in analytics.execute(_DEPENDENTS_SQL, {"table": table})]


def _check_swappable(analytics: Conn, plan: SyncPlan) -> None:
    found = dependents(analytics, plan)
    if found:
        problems = [
            f"{plan.name}: {what} depends on {plan.destination.qualified}; a swapped-in table"
            " would leave it on the old one: drop it around the refresh, or use --verify --repair"
            for what in found
        ]
        raise PreflightError("; ".join(problems), problems=problems)


def _build_definition(plan: SyncPlan) -> ExportDefinition:
    definition = plan.definition
    destination = definition.destination.model_copy(
        update={"table": aside_name(plan.destination.name)}
    )
    return definition.model_copy(update={"destination": destination})


def _prepare_aside(analytics: Conn, plan: SyncPlan) -> None:
    """A fresh empty copy of the destination's shape and grants, and no build position."""
    dest = q.destination_table(plan)
    with analytics.transaction():
        analytics.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_aside(plan)))
        analytics.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(_aside(plan), dest)
        )
        grants = analytics.execute(_GRANTS_SQL, (_text(analytics, dest),)).fetchall()
        for role, privilege, grantable in grants:
            if privilege not in _PRIVILEGES:
                continue
            grantee = sql.SQL("PUBLIC") if role == "PUBLIC" else q.ident(role)
            option = sql.SQL(" WITH GRANT OPTION") if grantable else sql.SQL("")
            analytics.execute(
                sql.SQL("GRANT {} ON {} TO {}{}").format(
                    sql.SQL(privilege), _aside(plan), grantee, option
                )
            )
        forget_position(analytics, plan.job, refresh_name(plan.name))
        # A build killed mid-backfill left chunks marked done for the table just dropped.
        forget_backfill(analytics, plan.job, refresh_name(plan.name))


def _rename_back(analytics: Conn, plan: SyncPlan) -> None:
    """Indexes and sequences built as ``<aside>_...`` get the destination's prefix back."""
    aside, table = aside_name(plan.destination.name), plan.destination.name
    pattern = aside.replace("_", r"\_") + "%"
    for kind, old in analytics.execute(
        _RENAMEABLE_SQL, (plan.destination.schema, pattern)
    ).fetchall():
        new = table + old[len(aside) :]
        analytics.execute(
            sql.SQL("ALTER {} {} RENAME TO {}").format(
                sql.SQL(kind), q.ident(plan.destination.schema, old), q.ident(new)
            )
        )


def _swap(analytics: Conn, plan: SyncPlan, build: RunResult, command: str) -> int:
    """Drop the old table, rename the new one into place, move the position; one transaction."""
    job, name = plan.job, plan.name
    dest = q.destination_table(plan)
    with analytics.transaction():
        # Taken first, so readers queue behind the swap instead of failing mid-way.
        analytics.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(dest))
        before = load_position(analytics, job, name)
        built = load_position(analytics, job, refresh_name(name))
        analytics.execute(sql.SQL("DROP TABLE {}").format(dest))
        analytics.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                _aside(plan), q.ident(plan.destination.name)
            )
        )
        _rename_back(analytics, plan)
        save_position(analytics, job, name, built)
        forget_position(analytics, job, refresh_name(name))
        note = (
            f"full refresh: {plan.destination.qualified} rebuilt from {build.counts.read:,}"
            f" source row(s) and swapped in (build run {build.run_id})"
        )
        run_id = record_operation(
            analytics,
            RunIdentity(job, name, command),
            before=before,
            after=built,
            counts=build.counts,
            note=note,
            started_at=build.started_at,  # the row shows the load's rows and time
        )
    return run_id


def _plan(dbs: Databases, job: str, name: str, definition: ExportDefinition) -> SyncPlan:
    with planned(dbs, job, name, definition) as (plan, core, analytics):
        _check_swappable(analytics, plan)
        return plan


def refresh_notice(dbs: Databases, job: str, name: str, definition: ExportDefinition) -> list[str]:
    """What a full refresh of ``name`` will do, after checking it can; writes nothing."""
    plan = _plan(dbs, job, name, definition)
    dest = plan.destination.qualified
    return [
        f"{name}: full refresh: rebuild {dest} from every row of core {plan.source.qualified}",
        f"  into {plan.destination.schema}.{aside_name(plan.destination.name)}, then swap it in"
        " with the new position in one transaction (readers keep the old table until then).",
        "  Kept: columns, defaults, constraints, indexes, identity, grants. Not kept: triggers,"
        " RLS policies, publications; identity/serial values are numbered afresh.",
    ]


@dataclass(frozen=True)
class RefreshDone:
    """A full refresh that swapped its new table in."""

    definition: str
    destination: str
    rows_read: int
    build_run_id: int | None
    run_id: int

    def line(self) -> str:
        return (
            f"{self.definition}: {self.destination} rebuilt from {self.rows_read:,} row(s)"
            f" and swapped in; run record {self.run_id}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "definition": self.definition,
            "action": "full refresh",
            "destination": self.destination,
            "rows_read": self.rows_read,
            "build_run_id": self.build_run_id,
            "run_id": self.run_id,
        }


def full_refresh(
    dbs: Databases,
    job: str,
    name: str,
    definition: ExportDefinition,
    *,
    settings: RunSettings,
    command: str = "",
    progress: Callable[[RunResult], None] | None = None,
) -> RefreshDone:
    """Rebuild ``name``'s destination aside and swap it in (the build is a run with
    ``settings``).

    Raises PreflightError when views or foreign keys depend on the destination,
    LockHeldError when another refresh (build) or run (swap) of it is busy, and
    the build's own errors (the old table stays untouched then).
    """
    plan = _plan(dbs, job, name, definition)
    with dbs.analytics.connection() as analytics:
        analytics.autocommit = True
        with definition_lock(analytics, job, refresh_name(name)):
            _prepare_aside(analytics, plan)
    build = process_definition(
        job,
        refresh_name(name),
        _build_definition(plan),
        dbs,
        settings=settings,
        command=command,
        progress=progress,
    )
    with dbs.analytics.connection() as analytics:
        analytics.autocommit = True
        with definition_lock(analytics, job, name):
            run_id = _swap(analytics, plan, build, command)
    return RefreshDone(name, plan.destination.qualified, build.counts.read, build.run_id, run_id)
