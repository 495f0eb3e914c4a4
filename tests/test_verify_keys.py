"""--verify --keys: rows deleted in core found by comparing keys only, and repaired."""

from __future__ import annotations

import json
import math

from dbtools import TestDatabases
from opstools import JOB, RunCli, count, databases, definition, seeded, synced
from synctools import on_both, sync

from services import ExportDefinition
from services.operations.repairs import Repair
from services.operations.verify_keys import BUCKETED, HASHED, STAGED, verify_keys

STAT_EVENT = "analytics_raw.stat_event"


def _keys(dbs: TestDatabases) -> list[str]:
    return [r[0] for r in dbs.query_analytics(f"SELECT old_id FROM {STAT_EVENT} ORDER BY old_id")]


def _delete_in_core(dbs: TestDatabases, ids: list[str]) -> None:
    dbs.query_core('DELETE FROM "StatEvent" WHERE id = ANY(%s)', (ids,))


def _job_keys(dbs: TestDatabases) -> list[str]:
    return [
        r[0]
        for r in dbs.query_analytics("SELECT id::text FROM analytics_raw.import_job ORDER BY id")
    ]


def test_rows_deleted_at_the_start_middle_and_end_of_the_key_range_are_found_and_repaired(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=0, import_jobs=1_000)
    synced(dbs, run_cli, env, "ImportJob")
    keys = _job_keys(dbs)
    gone = [keys[0], keys[len(keys) // 2], keys[-1]]
    dbs.query_core('DELETE FROM "ImportJob" WHERE id::text = ANY(%s)', (gone,))

    with databases(dbs) as pools:
        report = verify_keys(pools, JOB, "ImportJob", definition("ImportJob"), range_size=100)
    assert report.method == BUCKETED
    assert report.extra == 3 and report.examples == [f"id={k}" for k in sorted(gone)]
    assert report.keys_checked == len(keys)
    # Only the buckets holding a deleted key were diffed; the others matched by their hashes.
    assert report.ranges_checked == math.ceil(len(keys) / 100)
    assert report.ranges_differing == 3

    with databases(dbs) as pools:
        repair = Repair(keys=True, yes=False, command="test")
        fixed = verify_keys(
            pools, JOB, "ImportJob", definition("ImportJob"), repair=repair, range_size=100
        )
    assert fixed.deleted == 3
    assert _job_keys(dbs) == [k for k in keys if k not in gone]
    code, out, err = run_cli([JOB, "--verify", "--keys", "ImportJob"], env=env)
    assert code == 0, out + err
    assert "no extra rows" in out


def test_a_key_of_two_columns_is_compared_range_by_range(dbs: TestDatabases) -> None:
    on_both(dbs, "CREATE TABLE pairs (a int, b text, at timestamptz NOT NULL, PRIMARY KEY (a, b))")
    dbs.query_core(
        "INSERT INTO pairs SELECT n / 3, 'b' || n % 3, now() FROM generate_series(0, 599) n"
    )
    export = ExportDefinition(
        source={"table": "pairs", "cursor": {"field": "at"}},
        destination={"schema": "public", "table": "pairs", "conflict_columns": ["a", "b"]},
    )
    sync(dbs, export, "pairs")
    dbs.query_core("DELETE FROM pairs WHERE (a, b) IN ((0, 'b0'), (100, 'b1'), (199, 'b2'))")

    with databases(dbs) as pools:
        report = verify_keys(pools, JOB, "pairs", export, range_size=50)

    assert report.method == HASHED
    assert report.ranges_checked == 12 and report.ranges_differing == 3
    assert report.examples == ["a=0, b=b0", "a=100, b=b1", "a=199, b=b2"]


def test_a_key_copied_by_a_transform_is_hashed_on_each_server(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=1_000, import_jobs=0)
    synced(dbs, run_cli, env, "StatEvent")
    keys = _keys(dbs)
    gone = [keys[0], keys[len(keys) // 2], keys[-1]]
    _delete_in_core(dbs, gone)

    with databases(dbs) as pools:
        report = verify_keys(pools, JOB, "StatEvent", definition("StatEvent"), range_size=100)

    assert report.method == HASHED  # key_source: old_id is core's id unchanged (text)
    assert report.extra == 3 and report.examples == [f"old_id={k}" for k in sorted(gone)]


def test_the_command_line_reports_extra_keys_and_repairs_them(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=0, import_jobs=40)
    synced(dbs, run_cli, env, "ImportJob")
    gone = dbs.query_core(
        'DELETE FROM "ImportJob" WHERE id = (SELECT id FROM "ImportJob"'
        ' WHERE "finishedAt" IS NOT NULL ORDER BY id LIMIT 1) RETURNING id::text'
    )[0][0]

    code, out, err = run_cli([JOB, "--verify", "--keys", "ImportJob"], env=env)

    assert code == 1
    assert f"extra: 1 (e.g. id={gone}): rows core no longer has" in out
    assert err.strip().splitlines() == [
        "error: ImportJob: analytics holds 1 row(s) that core no longer has; run"
        " `python run_job.py export-to-pg --verify --keys --repair ImportJob` to delete them"
    ]
    before = count(dbs, "analytics_raw.import_job")
    code, out, err = run_cli(
        [JOB, "--verify", "--keys", "--repair", "--json", "ImportJob"], env=env
    )
    assert code == 0, out + err
    found = json.loads(out)
    assert (found["extra"], found["deleted"], found["repaired"]) == (1, 1, True)
    assert count(dbs, "analytics_raw.import_job") == before - 1
    record = dbs.query_analytics(
        "SELECT status, rows_deleted, note FROM tablesync.runs ORDER BY id DESC LIMIT 1"
    )
    assert record == [("succeeded", 1, "repair: deleted 1 extra row(s) that core no longer has")]
    code, out, err = run_cli([JOB, "--status", "--json", "ImportJob"], env=env)
    assert code == 0, err
    assert json.loads(out)[0]["last_run"]["rows_deleted"] == 1
    code, out, err = run_cli([JOB, "--status", "ImportJob"], env=env)
    assert " 0 (1 deleted) " in out


def test_a_computed_key_is_checked_through_the_transform(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=300, import_jobs=0)
    synced(dbs, run_cli, env, "StatEvent")
    gone = _keys(dbs)[7]
    _delete_in_core(dbs, [gone])
    computed = definition("StatEvent")
    destination = computed.destination.model_copy(update={"key_source": None})
    computed = computed.model_copy(update={"destination": destination})

    with databases(dbs) as pools:
        report = verify_keys(pools, JOB, "StatEvent", computed, range_size=50)

    assert report.method == STAGED
    assert (report.extra, report.examples) == (1, [f"old_id={gone}"])
