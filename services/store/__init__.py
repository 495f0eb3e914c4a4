"""What the two databases hold and how it is asked for: catalog reads, the plan
resolved from a definition, pre-flight checks, the statements the data path shares
(``sql``: windows, staging, upserts, COPY), run records, locks, a backfill's chunks,
followers and row estimates.

Where SQL is composed: every statement on the runner's own tables (``tablesync.*``)
is here, but for the positions, which ``base.position`` reads and writes beside the
``Position`` every room uses. A statement over the synced tables themselves lives with
the one job that runs it (the watermark's probes, verify's comparisons, a full
refresh's swap, scaffold's DDL), composed the same way: ``psycopg.sql`` with quoted
identifiers, values passed as arguments (tests/test_layout.py checks both).

May import ``services.base`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.base import lazy_exports

if TYPE_CHECKING:
    from services.store.catalog import Column, Table, find_table, relation_exists
    from services.store.chunks import Backfill, Chunk, Progress, forget_backfill
    from services.store.delete_guard import DeleteGuard, DeleteLimit
    from services.store.estimate import (
        COUNT_MAX_ROWS,
        COUNT_TIMEOUT_MS,
        Counted,
        RowCount,
        count_rows,
        count_window,
        lazy_count,
        newest_cursor,
        pending_count,
    )
    from services.store.fingerprint import catalog_fingerprint
    from services.store.followers import (
        Cycle,
        FollowerSession,
        FollowerState,
        latest_sessions,
        record_cycle,
        record_state,
        start_session,
    )
    from services.store.heaps import Heap, SourceHeaps, leaf_now, source_heaps
    from services.store.history import (
        MAX_PAGE,
        LastRun,
        Opened,
        RunFilter,
        RunRecord,
        last_run,
        newest_run_id,
        run_started_by,
    )
    from services.store.layout import StagingLayout
    from services.store.lock import (
        definition_lock,
        downgrade_lock,
        lock_held,
        lock_is_held,
        release_exclusive,
        release_shared,
        shared_definition_lock,
        try_lock,
        try_shared_lock,
    )
    from services.store.plan import CopyMode, SyncPlan
    from services.store.preflight import MIGRATIONS_DIR, check_runner_tables, plan_definition
    from services.store.runs import (
        REFUSED_NOTE,
        abandon_dead_runs,
        committed_counts,
        finish_run,
        record_operation,
        record_progress,
        record_refusal,
        record_resumes,
        start_run,
    )
    from services.store.schedule_claims import claim_due, latest_claims, record_claim_outcome
    from services.store.sql import ident
    from services.store.type_definitions import (
        TypeCatalog,
        TypeKind,
        TypeRef,
        UserType,
        find_types,
        read_types,
    )
    from services.store.type_paths import substance

__all__ = [
    "Backfill",
    "COUNT_MAX_ROWS",
    "COUNT_TIMEOUT_MS",
    "Chunk",
    "Column",
    "CopyMode",
    "Counted",
    "Cycle",
    "DeleteGuard",
    "DeleteLimit",
    "FollowerSession",
    "FollowerState",
    "Heap",
    "LastRun",
    "MAX_PAGE",
    "MIGRATIONS_DIR",
    "Opened",
    "Progress",
    "REFUSED_NOTE",
    "RowCount",
    "RunFilter",
    "RunRecord",
    "SourceHeaps",
    "StagingLayout",
    "SyncPlan",
    "Table",
    "TypeCatalog",
    "TypeKind",
    "TypeRef",
    "UserType",
    "abandon_dead_runs",
    "catalog_fingerprint",
    "check_runner_tables",
    "chunks",
    "claim_due",
    "committed_counts",
    "count_rows",
    "count_window",
    "definition_lock",
    "delete_sql",
    "downgrade_lock",
    "find_table",
    "find_types",
    "finish_run",
    "forget_backfill",
    "history",
    "ident",
    "key_sql",
    "latest_claims",
    "latest_sessions",
    "lazy_count",
    "leaf_now",
    "lock_held",
    "lock_is_held",
    "newest_cursor",
    "last_run",
    "newest_run_id",
    "pending_count",
    "plan_definition",
    "read_types",
    "record_claim_outcome",
    "record_cycle",
    "record_operation",
    "record_progress",
    "record_refusal",
    "record_resumes",
    "record_state",
    "relation_exists",
    "release_exclusive",
    "release_shared",
    "run_started_by",
    "shared_definition_lock",
    "source_heaps",
    "sql",
    "start_run",
    "start_session",
    "substance",
    "try_lock",
    "try_shared_lock",
]
_HOMES = {
    "Backfill": "services.store.chunks",
    "COUNT_MAX_ROWS": "services.store.estimate",
    "COUNT_TIMEOUT_MS": "services.store.estimate",
    "Chunk": "services.store.chunks",
    "Column": "services.store.catalog",
    "CopyMode": "services.store.plan",
    "Counted": "services.store.estimate",
    "Cycle": "services.store.followers",
    "DeleteGuard": "services.store.delete_guard",
    "DeleteLimit": "services.store.delete_guard",
    "FollowerSession": "services.store.followers",
    "FollowerState": "services.store.followers",
    "Heap": "services.store.heaps",
    "LastRun": "services.store.history",
    "MAX_PAGE": "services.store.history",
    "MIGRATIONS_DIR": "services.store.preflight",
    "Opened": "services.store.history",
    "Progress": "services.store.chunks",
    "REFUSED_NOTE": "services.store.runs",
    "RowCount": "services.store.estimate",
    "RunFilter": "services.store.history",
    "RunRecord": "services.store.history",
    "SourceHeaps": "services.store.heaps",
    "StagingLayout": "services.store.layout",
    "SyncPlan": "services.store.plan",
    "Table": "services.store.catalog",
    "TypeCatalog": "services.store.type_definitions",
    "TypeKind": "services.store.type_definitions",
    "TypeRef": "services.store.type_definitions",
    "UserType": "services.store.type_definitions",
    "abandon_dead_runs": "services.store.runs",
    "catalog_fingerprint": "services.store.fingerprint",
    "check_runner_tables": "services.store.preflight",
    "claim_due": "services.store.schedule_claims",
    "committed_counts": "services.store.runs",
    "count_rows": "services.store.estimate",
    "count_window": "services.store.estimate",
    "definition_lock": "services.store.lock",
    "downgrade_lock": "services.store.lock",
    "find_table": "services.store.catalog",
    "find_types": "services.store.type_definitions",
    "finish_run": "services.store.runs",
    "forget_backfill": "services.store.chunks",
    "ident": "services.store.sql",
    "latest_claims": "services.store.schedule_claims",
    "latest_sessions": "services.store.followers",
    "lazy_count": "services.store.estimate",
    "leaf_now": "services.store.heaps",
    "lock_held": "services.store.lock",
    "lock_is_held": "services.store.lock",
    "newest_cursor": "services.store.estimate",
    "last_run": "services.store.history",
    "newest_run_id": "services.store.history",
    "pending_count": "services.store.estimate",
    "plan_definition": "services.store.preflight",
    "read_types": "services.store.type_definitions",
    "record_claim_outcome": "services.store.schedule_claims",
    "record_cycle": "services.store.followers",
    "record_operation": "services.store.runs",
    "record_progress": "services.store.runs",
    "record_refusal": "services.store.runs",
    "record_resumes": "services.store.runs",
    "record_state": "services.store.followers",
    "relation_exists": "services.store.catalog",
    "release_exclusive": "services.store.lock",
    "release_shared": "services.store.lock",
    "run_started_by": "services.store.history",
    "shared_definition_lock": "services.store.lock",
    "source_heaps": "services.store.heaps",
    "start_run": "services.store.runs",
    "start_session": "services.store.followers",
    "substance": "services.store.type_paths",
    "try_lock": "services.store.lock",
    "try_shared_lock": "services.store.lock",
}
__getattr__ = lazy_exports(__name__, _HOMES)
