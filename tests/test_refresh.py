"""--full-refresh: the destination rebuilt aside and swapped in; readers never see it empty."""

from __future__ import annotations

import threading
import uuid

import psycopg
from dbtools import TestDatabases
from opstools import JOB, RunCli, count, position, runs, seeded, synced

IMPORT_JOB = "analytics_raw.import_job"


def test_a_full_refresh_rebuilds_from_core_and_keeps_indexes_and_grants(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent")
    role = f"ts_reader_{uuid.uuid4().hex[:8]}"
    dbs.query_analytics(f"CREATE ROLE {role}".encode())
    try:
        dbs.query_analytics(f"GRANT SELECT ON analytics_raw.stat_event TO {role}".encode())
        indexes_before = _indexes(dbs, "stat_event")
        dbs.query_core('DELETE FROM "StatEvent" WHERE id IN (SELECT id FROM "StatEvent" LIMIT 5)')
        dbs.query_analytics("UPDATE analytics_raw.stat_event SET host = 'by hand'")
        code, out, err = run_cli([JOB, "--full-refresh", "--yes", "StatEvent"], env=env)
        assert code == 0, out + err
        assert dbs.query_analytics(
            "SELECT has_table_privilege(%s, 'analytics_raw.stat_event', 'SELECT')", (role,)
        ) == [(True,)]
    finally:
        dbs.query_analytics(f"DROP OWNED BY {role}; DROP ROLE {role}".encode())
    assert _indexes(dbs, "stat_event") == indexes_before
    assert run_cli([JOB, "--verify", "StatEvent"], env=env)[0] == 0
    assert dbs.query_analytics(
        "SELECT count(*) FROM analytics_raw.stat_event WHERE host = 'by hand'"
    ) == [(0,)]
    assert dbs.query_analytics(
        "SELECT count(*) FROM pg_class WHERE relname LIKE '%tablesync\\_new%'"
    ) == [(0,)]
    status, _, _, after, note, _ = runs(dbs, "StatEvent")[-1]
    assert status == "succeeded" and "full refresh" in str(note)
    assert position(dbs, "StatEvent") == (after["value"], after["id"])  # type: ignore[index]
    assert position(dbs, "StatEvent (full refresh)") is None
    # The swap's record spans the build: its time is the load's, not the swap's instant.
    ((swap_s, build_s),) = dbs.query_analytics(
        "SELECT extract(epoch FROM s.finished_at - s.started_at),"
        " extract(epoch FROM b.finished_at - b.started_at) FROM tablesync.runs s, tablesync.runs b"
        " WHERE s.definition = 'StatEvent' AND b.definition = 'StatEvent (full refresh)'"
        " ORDER BY s.id DESC, b.id DESC LIMIT 1"
    )
    assert swap_s >= build_s > 0


def _indexes(dbs: TestDatabases, table: str) -> list[tuple[object, ...]]:
    return dbs.query_analytics(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'analytics_raw'"
        " AND tablename = %s ORDER BY 1",
        (table,),
    )


def _read_until(stop: threading.Event, url: str, seen: list[int], errors: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            try:
                row = conn.execute(f"SELECT count(*) FROM {IMPORT_JOB}".encode()).fetchone()
                assert row is not None
                seen.append(int(row[0]))
            except psycopg.Error as exc:
                errors.append(str(exc))


def test_readers_see_the_old_table_or_the_new_one_never_an_empty_one(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=0, import_jobs=120)
    synced(dbs, run_cli, env, "ImportJob")
    old = count(dbs, IMPORT_JOB)
    dbs.query_core('DELETE FROM "ImportJob" WHERE id IN (SELECT id FROM "ImportJob" LIMIT 30)')
    new = int(
        dbs.query_core('SELECT count(*) FROM "ImportJob" WHERE "finishedAt" IS NOT NULL')[0][0]
    )
    assert new != old
    stop, seen, errors = threading.Event(), [], []  # type: ignore[var-annotated]
    readers = [
        threading.Thread(target=_read_until, args=(stop, dbs.analytics_url, seen, errors))
        for _ in range(2)
    ]
    for reader in readers:
        reader.start()
    try:
        code, out, err = run_cli([JOB, "--full-refresh", "--yes", "ImportJob"], env=env)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert code == 0, out + err
    assert errors == []
    assert set(seen) == {old, new}
    # Once a reader saw the new table it never went back to the old one.
    assert seen[: seen.index(new)].count(new) == 0


def test_a_view_on_the_destination_makes_the_refresh_refuse(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=0, import_jobs=10)
    synced(dbs, run_cli, env, "ImportJob")
    dbs.query_analytics(
        "CREATE VIEW analytics_raw.failed_jobs AS"
        " SELECT * FROM analytics_raw.import_job WHERE status = 'failed'"
    )
    code, out, err = run_cli([JOB, "--full-refresh", "--yes", "ImportJob"], env=env)
    assert code == 2
    assert err.startswith(
        "error: ImportJob: view analytics_raw.failed_jobs depends on analytics_raw.import_job"
    )
    assert runs(dbs, "ImportJob (full refresh)") == []
