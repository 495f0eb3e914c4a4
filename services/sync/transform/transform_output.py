"""What a transform's output may name, and how rows are typed for COPY.

A transform's columns are checked against the destination once per run
(before any write); its rows, and the staging rows with their key text and
DELETED flag, are dumped in binary when psycopg knows every type.
"""

from __future__ import annotations

from typing import Any

import psycopg

from services.base import PreflightError
from services.store import SyncPlan
from services.store import sql as q


def binary_copyable(conn: psycopg.Connection[Any], oids: list[int]) -> bool:
    """Whether psycopg can load and dump every one of ``oids`` in binary COPY."""
    return all(conn.adapters.types.get(oid) is not None for oid in oids)


def check_transform_columns(plan: SyncPlan, columns: list[str]) -> None:
    """The transform's output must name destination columns, conflict columns included."""
    dest = plan.destination
    unknown = [c for c in columns if c not in dest.columns]
    generated = [c for c in columns if c in dest.columns and dest.columns[c].generated]
    missing_keys = [k for k in plan.keys if k not in columns]
    problems = [
        f"transform output names column {c!r} that analytics table {dest.qualified} lacks:"
        " add it with a dbmate migration or drop it from the transform"
        for c in unknown
    ]
    problems += [
        f"transform output writes generated column {dest.qualified}.{c}" for c in generated
    ]
    problems += [f"transform output lacks conflict column {k!r}" for k in missing_keys]
    if problems:
        # Each problem becomes its own error: line, so each names the definition.
        named = [f"{plan.name}: {p}" for p in problems]
        raise PreflightError("; ".join(named), problems=named)


TEXT_OID = 25
BOOL_OID = 16


def output_types(
    plan: SyncPlan, conn: psycopg.Connection[Any], columns: list[str], *, fast: bool
) -> tuple[bool, list[int]]:
    """Whether a transform's rows go in as binary COPY, and the types to dump them as.

    Binary when psycopg knows every destination type. Otherwise text, and a
    type it does not know (an enum, say) is dumped as text: in text COPY the
    server reads the text form into the column's type. Staging rows end with
    their key as text, and whether they delete it where they may.
    """
    oids = [plan.destination.columns[c].type_oid for c in columns]
    binary = binary_copyable(conn, oids)
    if not binary:
        known = conn.adapters.types
        oids = [oid if known.get(oid) is not None else TEXT_OID for oid in oids]
    if fast:
        return binary, oids
    return binary, [*oids, TEXT_OID, TEXT_OID, *([BOOL_OID] if q.can_delete(plan) else [])]
