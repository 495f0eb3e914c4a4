"""The route: how an attempt reads and writes its batches, chosen once, and changed only
by the batch loop after a refusal (services/sync/route.py).

The table holds every combination a run can meet: a transform, a select or
neither, source and destination types equal (binary COPY) or not (text), soft
deletes, a where, a backfill's chunks or cursor batches (incremental, or a first
load), transform workers or none, the fast path or staging; for each, the route
chosen and the route after each refusal that can happen on it (the fast path
refused mid-run, a worker failed). Plans come from real catalogs.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from dbtools import TestDatabases
from synctools import definition, sync

from services.base import ExportDefinition
from services.store.preflight import plan_definition
from services.sync.route import Read, Refusal, Write, choose_route

STAGED = "the straight COPY was refused"


def _same(row: dict[str, Any]) -> dict[str, Any]:
    return row


def _definition(dest: str = "t", source: dict[str, Any] | None = None, **extra: Any) -> Any:
    return ExportDefinition(
        source={"table": "t", "cursor": {"field": "at", "id_field": "id"}, **(source or {})},
        destination={"schema": "public", "table": dest, "conflict_columns": ["id"]},
        **extra,
    )


def _definitions() -> dict[str, ExportDefinition]:
    soft = {"soft_delete": {"field": "gone"}}
    return {
        "binary": _definition(),  # same types, unique NOT NULL key
        "text": _definition("t_text"),  # v: varchar, through its text form
        "soft": _definition(source=soft),
        "soft-text": _definition("t_text", source=soft),
        "transform": _definition(transform=_same),
        "transform-text": _definition("t_text", transform=_same),
        "where": _definition(source={"where": "v IS NOT NULL"}),
        "select": _definition(select={"id": "id", "at": "at", "v": "upper(v)", "gone": "gone"}),
        "select-key": _definition(select={"id": "id + 0", "at": "at", "v": "v", "gone": "gone"}),
    }


@pytest.fixture
def routes(dbs: TestDatabases) -> dict[str, Any]:
    """The plans of the definitions, from the test databases' catalogs."""
    columns = "id int PRIMARY KEY, at timestamptz NOT NULL, v text, gone boolean"
    dbs.query_core(f"CREATE TABLE t ({columns})")
    dbs.query_analytics(f"CREATE TABLE t ({columns})")
    dbs.query_analytics(
        "CREATE TABLE t_text (id int PRIMARY KEY, at timestamptz, v varchar(9), gone boolean)"
    )
    core, analytics = dbs.core(), dbs.analytics()
    return {
        name: plan_definition("export-to-pg", name, d, core=core, analytics=analytics)
        for name, d in _definitions().items()
    }


# (definition, batches or chunks, straight, workers) -> the route, then after a refusal:
# the fast path's (written straight) and a worker's (read by workers). Every definition
# meets every way a run starts: incremental (never straight: the destination holds rows),
# a first load and a backfill's chunks, each straight (the probe allows it) or staged; a
# transform with workers and without. A transform may return Delete for a row
# (services/base/definition.py): its staged rows say whether they delete their key. A
# where reads no keyset batch (its batches end where batch_end counts what it leaves out);
# a select whose key is an expression needs staging's key text, as a text conversion does.
TABLE = [
    ("binary", "incremental", False, 0,
     "batches read by keyset, written staged; staging keyed",
     None,
     None),
    ("binary", "first load", True, 0,
     "batches read by prefetched, written straight; staging columns only",
     "batches read by prefetched, written staged; staging columns only",
     None),
    ("binary", "first load", False, 0,
     "batches read by prefetched, written staged; staging columns only",
     None,
     None),
    ("binary", "chunks", True, 0,
     "chunks read by prefetched, written straight; staging columns only",
     "chunks read by prefetched, written staged; staging columns only",
     None),
    ("binary", "chunks", False, 0,
     "chunks read by prefetched, written staged; staging columns only",
     None,
     None),
    ("text", "incremental", False, 0,
     "batches read by keyset, written staged; staging keyed+ordinal",
     None,
     None),
    ("text", "first load", True, 0,
     "batches read by prefetched, written straight; staging keyed+ordinal",
     "batches read by keyset, written staged; staging keyed+ordinal",
     None),
    ("text", "first load", False, 0,
     "batches read by keyset, written staged; staging keyed+ordinal",
     None,
     None),
    ("text", "chunks", True, 0,
     "chunks read by prefetched, written straight; staging keyed+ordinal",
     "chunks read by prefetched, written staged; staging keyed+ordinal",
     None),
    ("text", "chunks", False, 0,
     "chunks read by prefetched, written staged; staging keyed+ordinal",
     None,
     None),
    ("soft", "incremental", False, 0,
     "batches read by prefetched, written staged; staging deletes",
     None,
     None),
    ("soft", "first load", True, 0,
     "batches read by query, written straight; staging deletes",
     "batches read by prefetched, written staged; staging deletes",
     None),
    ("soft", "first load", False, 0,
     "batches read by prefetched, written staged; staging deletes",
     None,
     None),
    ("soft", "chunks", True, 0,
     "chunks read by query, written straight; staging deletes",
     "chunks read by prefetched, written staged; staging deletes",
     None),
    ("soft", "chunks", False, 0,
     "chunks read by prefetched, written staged; staging deletes",
     None,
     None),
    ("soft-text", "incremental", False, 0,
     "batches read by prefetched, written staged; staging keyed+ordinal+deletes",
     None,
     None),
    ("soft-text", "first load", True, 0,
     "batches read by query, written straight; staging keyed+ordinal+deletes",
     "batches read by prefetched, written staged; staging keyed+ordinal+deletes",
     None),
    ("soft-text", "first load", False, 0,
     "batches read by prefetched, written staged; staging keyed+ordinal+deletes",
     None,
     None),
    ("soft-text", "chunks", True, 0,
     "chunks read by query, written straight; staging keyed+ordinal+deletes",
     "chunks read by prefetched, written staged; staging keyed+ordinal+deletes",
     None),
    ("soft-text", "chunks", False, 0,
     "chunks read by prefetched, written staged; staging keyed+ordinal+deletes",
     None,
     None),
    ("transform", "incremental", False, 3,
     "batches read by workers (3), written staged; staging keyed+ordinal+deletes",
     None,
     "batches read by query, written staged; staging keyed+ordinal+deletes"),
    ("transform", "incremental", False, 0,
     "batches read by query, written staged; staging keyed+ordinal+deletes",
     None,
     None),
    ("transform", "first load", True, 3,
     "batches read by workers (3), written straight; staging keyed+ordinal+deletes",
     "batches read by workers (3), written staged; staging keyed+ordinal+deletes",
     "batches read by query, written straight; staging keyed+ordinal+deletes"),
    ("transform", "first load", True, 0,
     "batches read by query, written straight; staging keyed+ordinal+deletes",
     "batches read by query, written staged; staging keyed+ordinal+deletes",
     None),
    ("transform", "first load", False, 3,
     "batches read by workers (3), written staged; staging keyed+ordinal+deletes",
     None,
     "batches read by query, written staged; staging keyed+ordinal+deletes"),
    ("transform", "first load", False, 0,
     "batches read by query, written staged; staging keyed+ordinal+deletes",
     None,
     None),
    ("transform", "chunks", True, 3,
     "chunks read by workers (3), written straight; staging keyed+ordinal+deletes",
     "chunks read by workers (3), written staged; staging keyed+ordinal+deletes",
     "chunks read by query, written straight; staging keyed+ordinal+deletes"),
    ("transform", "chunks", True, 0,
     "chunks read by query, written straight; staging keyed+ordinal+deletes",
     "chunks read by query, written staged; staging keyed+ordinal+deletes",
     None),
    ("transform", "chunks", False, 3,
     "chunks read by workers (3), written staged; staging keyed+ordinal+deletes",
     None,
     "chunks read by query, written staged; staging keyed+ordinal+deletes"),
    ("transform", "chunks", False, 0,
     "chunks read by query, written staged; staging keyed+ordinal+deletes",
     None,
     None),
    ("transform-text", "incremental", False, 3,
     "batches read by workers (3), written staged; staging keyed+ordinal+deletes",
     None,
     "batches read by query, written staged; staging keyed+ordinal+deletes"),
    ("transform-text", "incremental", False, 0,
     "batches read by query, written staged; staging keyed+ordinal+deletes",
     None,
     None),
    ("transform-text", "first load", True, 3,
     "batches read by workers (3), written straight; staging keyed+ordinal+deletes",
     "batches read by workers (3), written staged; staging keyed+ordinal+deletes",
     "batches read by query, written straight; staging keyed+ordinal+deletes"),
    ("transform-text", "first load", True, 0,
     "batches read by query, written straight; staging keyed+ordinal+deletes",
     "batches read by query, written staged; staging keyed+ordinal+deletes",
     None),
    ("transform-text", "first load", False, 3,
     "batches read by workers (3), written staged; staging keyed+ordinal+deletes",
     None,
     "batches read by query, written staged; staging keyed+ordinal+deletes"),
    ("transform-text", "first load", False, 0,
     "batches read by query, written staged; staging keyed+ordinal+deletes",
     None,
     None),
    ("transform-text", "chunks", True, 3,
     "chunks read by workers (3), written straight; staging keyed+ordinal+deletes",
     "chunks read by workers (3), written staged; staging keyed+ordinal+deletes",
     "chunks read by query, written straight; staging keyed+ordinal+deletes"),
    ("transform-text", "chunks", True, 0,
     "chunks read by query, written straight; staging keyed+ordinal+deletes",
     "chunks read by query, written staged; staging keyed+ordinal+deletes",
     None),
    ("transform-text", "chunks", False, 3,
     "chunks read by workers (3), written staged; staging keyed+ordinal+deletes",
     None,
     "chunks read by query, written staged; staging keyed+ordinal+deletes"),
    ("transform-text", "chunks", False, 0,
     "chunks read by query, written staged; staging keyed+ordinal+deletes",
     None,
     None),
    ("where", "incremental", False, 0,
     "batches read by prefetched, written staged; staging columns only",
     None,
     None),
    ("where", "first load", True, 0,
     "batches read by prefetched, written straight; staging columns only",
     "batches read by prefetched, written staged; staging columns only",
     None),
    ("where", "first load", False, 0,
     "batches read by prefetched, written staged; staging columns only",
     None,
     None),
    ("where", "chunks", True, 0,
     "chunks read by prefetched, written straight; staging columns only",
     "chunks read by prefetched, written staged; staging columns only",
     None),
    ("where", "chunks", False, 0,
     "chunks read by prefetched, written staged; staging columns only",
     None,
     None),
    ("select", "incremental", False, 0,
     "batches read by keyset, written staged; staging keyed",
     None,
     None),
    ("select", "first load", True, 0,
     "batches read by prefetched, written straight; staging columns only",
     "batches read by prefetched, written staged; staging columns only",
     None),
    ("select", "first load", False, 0,
     "batches read by prefetched, written staged; staging columns only",
     None,
     None),
    ("select", "chunks", True, 0,
     "chunks read by prefetched, written straight; staging columns only",
     "chunks read by prefetched, written staged; staging columns only",
     None),
    ("select", "chunks", False, 0,
     "chunks read by prefetched, written staged; staging columns only",
     None,
     None),
    ("select-key", "incremental", False, 0,
     "batches read by keyset, written staged; staging keyed+ordinal",
     None,
     None),
    ("select-key", "first load", True, 0,
     "batches read by prefetched, written straight; staging keyed+ordinal",
     "batches read by keyset, written staged; staging keyed+ordinal",
     None),
    ("select-key", "first load", False, 0,
     "batches read by keyset, written staged; staging keyed+ordinal",
     None,
     None),
    ("select-key", "chunks", True, 0,
     "chunks read by prefetched, written straight; staging keyed+ordinal",
     "chunks read by prefetched, written staged; staging keyed+ordinal",
     None),
    ("select-key", "chunks", False, 0,
     "chunks read by prefetched, written staged; staging keyed+ordinal",
     None,
     None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "how", "straight", "workers", "chosen", "refused_straight", "worker_failed"),
    TABLE,
    ids=[f"{r[0]}-{r[1]}-{'straight' if r[2] else 'staged'}-w{r[3]}" for r in TABLE],
)
def test_the_route_chosen_and_after_each_refusal(
    routes: dict[str, Any],
    name: str,
    how: str,
    straight: bool,
    workers: int,
    chosen: str,
    refused_straight: str | None,
    worker_failed: str | None,
) -> None:
    route = choose_route(
        routes[name],
        chunks=how == "chunks",
        incremental=how == "incremental",
        straight=straight,
        workers=workers,
    )
    assert str(route) == chosen
    if refused_straight is not None:
        assert route.write is Write.STRAIGHT
        assert str(route.after_refusal(Refusal.STRAIGHT_REFUSED)) == refused_straight
    if worker_failed is not None:
        assert route.read is Read.WORKERS
        assert str(route.after_refusal(Refusal.WORKER_FAILED)) == worker_failed
    # However many refusals, a route ends staged, read by the runner: a staged write is
    # never refused, so the loop that takes them ends.
    for _ in range(2):
        route = route.after_refusal(Refusal.STRAIGHT_REFUSED).after_refusal(Refusal.WORKER_FAILED)
    assert (route.write, route.workers) == (Write.STAGED, 0)
    assert route.read is not Read.WORKERS


@pytest.mark.usefixtures("failures_in_tmp")
def test_a_refused_fast_path_takes_the_route_after_it_for_the_rest_of_the_run(
    dbs: TestDatabases, debug_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first load into an empty destination starts straight; a batch holding one key
    twice (core has no unique index on it) is refused there, and the loop writes it again
    on the staged route, whose reads are keyset queries from then on."""
    monkeypatch.setenv("TABLESYNC_BACKFILL", "off")
    dbs.query_core("CREATE TABLE t (id int NOT NULL, at timestamptz NOT NULL, v text)")
    dbs.query_analytics("CREATE TABLE t (id int PRIMARY KEY, at timestamptz, v text)")
    dbs.query_core(
        "INSERT INTO t SELECT g % 7, '2026-01-01'::timestamptz + g * interval '1s', 'v' || g"
        " FROM generate_series(1, 30) g"
    )
    export = definition("t", "at", batch_size=10)

    result = sync(dbs, export)

    lines = [r.getMessage() for r in debug_log.records if "; staging " in r.getMessage()]
    assert "t: batches read by prefetched, written straight; staging keyed+ordinal" in lines
    assert (
        f"t: {STAGED}; now batches read by keyset, written staged; staging keyed+ordinal"
    ) in lines
    assert [m for m in lines if STAGED in m and "; now " in m] == [
        f"t: {STAGED}; now batches read by keyset, written staged; staging keyed+ordinal"
    ]  # once: the batches after it are on the staged route already
    assert result.counts.read == 30
    # The latest row of each key won (rule 3), as staging's DISTINCT ON keeps it.
    assert dbs.query_analytics("SELECT id, v FROM t ORDER BY id") == [
        (k, f"v{max(g for g in range(1, 31) if g % 7 == k)}") for k in range(7)
    ]


def test_a_failed_worker_takes_the_route_after_it_for_the_rest_of_the_run(
    dbs: TestDatabases, debug_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers transform the batches after the first; one dies on a row, its batch is
    refused, and the loop writes it again read by the runner, which reads every batch after
    it too: the route changes once, and no row is lost or doubled."""
    monkeypatch.setenv("TABLESYNC_BACKFILL", "off")
    monkeypatch.setenv("TABLESYNC_TRANSFORM_WORKERS", "2")
    dbs.query_core("CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL, v text)")
    dbs.query_analytics("CREATE TABLE t (id int PRIMARY KEY, n int, v text)")
    dbs.query_core("INSERT INTO t SELECT g, g * 10, 'v' || g FROM generate_series(1, 40) g")
    runner = os.getpid()

    def dies_in_a_worker(row: dict[str, Any]) -> dict[str, Any]:
        if row["id"] == 17 and os.getpid() != runner:
            os.kill(os.getpid(), signal.SIGKILL)
        return row

    result = sync(
        dbs, definition("t", "n", id_field="id", batch_size=4, transform=dies_in_a_worker)
    )

    lines = [r.getMessage() for r in debug_log.records if "; staging " in r.getMessage()]
    layout = "staging keyed+ordinal+deletes"
    assert f"t: batches read by workers (2), written straight; {layout}" in lines
    failed = "a transform worker's batch could not be written"
    assert [m for m in lines if "; now " in m] == [
        f"t: {failed}; now batches read by query, written straight; {layout}"
    ]
    assert (result.counts.read, result.counts.created) == (40, 40)
    assert dbs.query_analytics("SELECT count(*), sum(id) FROM t") == [(40, sum(range(41)))]
