"""The route: how an attempt reads and writes its batches, chosen once, and changed only
by the batch loop after a refusal (services/sync/route.py).

The table holds every combination a run can meet: a transform or none, source
and destination types equal (binary COPY) or not (text), soft deletes, a
backfill's chunks or cursor batches (incremental, or a first load), transform
workers or none, the fast path or staging; for each, the route chosen and the
route after each refusal that can happen on it. Plans come from real catalogs.
"""

from __future__ import annotations

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


def _definitions() -> dict[str, ExportDefinition]:
    soft = ExportDefinition(
        source={
            "table": "t",
            "cursor": {"field": "at", "id_field": "id"},
            "soft_delete": {"field": "gone"},
        },
        destination={"schema": "public", "table": "t", "conflict_columns": ["id"]},
    )
    return {
        "binary": definition("t", "at", id_field="id"),  # same types, unique NOT NULL key
        "text": definition("t", "at", id_field="id", dest_table="t_text"),  # v: varchar
        "transform": definition("t", "at", id_field="id", transform=_same),
        "soft": soft,
    }


@pytest.fixture
def routes(dbs: TestDatabases) -> dict[str, Any]:
    """The plans of the four definitions, from the test databases' catalogs."""
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
# the fast path's (written straight) and a worker's (read by workers).
TABLE = [
    ("binary", "incremental", False, 0,
     "batches read by keyset, written staged; staging keyed", None, None),
    ("binary", "first load", True, 0,
     "batches read by prefetched, written straight; staging columns only",
     "batches read by prefetched, written staged; staging columns only", None),
    ("binary", "first load", False, 0,
     "batches read by prefetched, written staged; staging columns only", None, None),
    ("binary", "chunks", True, 0,
     "chunks read by prefetched, written straight; staging columns only",
     "chunks read by prefetched, written staged; staging columns only", None),
    ("text", "incremental", False, 0,
     "batches read by keyset, written staged; staging keyed+ordinal", None, None),
    ("text", "first load", True, 0,
     "batches read by prefetched, written straight; staging keyed+ordinal",
     "batches read by keyset, written staged; staging keyed+ordinal", None),
    ("text", "chunks", False, 0,
     "chunks read by prefetched, written staged; staging keyed+ordinal", None, None),
    ("soft", "incremental", False, 0,
     "batches read by prefetched, written staged; staging deletes", None, None),
    ("soft", "first load", True, 0,
     "batches read by query, written straight; staging deletes",
     "batches read by prefetched, written staged; staging deletes", None),
    ("soft", "chunks", True, 0,
     "chunks read by query, written straight; staging deletes",
     "chunks read by prefetched, written staged; staging deletes", None),
    # A transform may return Delete for a row (services/base/definition.py): staged rows
    # say whether they delete their key.
    ("transform", "incremental", False, 3,
     "batches read by workers (3), written staged; staging keyed+ordinal+deletes", None,
     "batches read by query, written staged; staging keyed+ordinal+deletes"),
    ("transform", "incremental", False, 0,
     "batches read by query, written staged; staging keyed+ordinal+deletes", None, None),
    ("transform", "first load", True, 3,
     "batches read by workers (3), written straight; staging keyed+ordinal+deletes",
     "batches read by workers (3), written staged; staging keyed+ordinal+deletes",
     "batches read by query, written straight; staging keyed+ordinal+deletes"),
    ("transform", "chunks", True, 2,
     "chunks read by workers (2), written straight; staging keyed+ordinal+deletes",
     "chunks read by workers (2), written staged; staging keyed+ordinal+deletes",
     "chunks read by query, written straight; staging keyed+ordinal+deletes"),
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
