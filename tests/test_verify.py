"""verify: analytics compared with what core and the transform produce now."""

from __future__ import annotations

import json

from dbtools import TestDatabases
from opstools import JOB, RunCli, count, databases, definition, seeded, synced

from services.operations.verify import KINDS, verify

STAT_EVENT = "analytics_raw.stat_event"


def _verify(run_cli: RunCli, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return run_cli([JOB, "--verify", *args], env=env)


def test_a_clean_sync_verifies_as_a_match(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent", "ImportJob")
    code, out, err = _verify(run_cli, env, "StatEvent", "ImportJob")
    assert code == 0, out + err
    assert out.count("analytics matches core") == 2
    checked = dbs.query_core(
        "SELECT count(*) FROM \"StatEvent\" WHERE source_id IS NOT NULL AND source_id <> ''"
    )[0][0]
    assert f"StatEvent: {checked:,} row(s) checked" in out
    code, out, err = _verify(run_cli, env, "--json", "ImportJob")
    assert code == 0, out + err
    found = json.loads(out)
    assert found["differs"] is False and found["counts"] == dict.fromkeys(KINDS, 0)


def test_a_row_deleted_in_core_is_extra_and_repair_deletes_it(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent")
    gone_id = dbs.query_core(
        'DELETE FROM "StatEvent" WHERE id = (SELECT min(id) FROM "StatEvent"'
        " WHERE source_id <> '') RETURNING id"
    )[0][0]
    code, out, err = _verify(run_cli, env, "StatEvent")
    assert code == 1
    assert f"extra: 1 (e.g. old_id={gone_id})" in out
    assert "missing" not in out and "differing" not in out
    assert err.startswith("error: StatEvent: analytics differs from core (1 extra)")
    before = count(dbs, STAT_EVENT)
    code, out, err = _verify(run_cli, env, "--repair", "StatEvent")
    assert code == 0, out + err
    assert count(dbs, STAT_EVENT) == before - 1
    assert _verify(run_cli, env, "StatEvent")[0] == 0


def test_a_row_changed_in_analytics_by_hand_is_differing(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent")
    key = dbs.query_analytics(
        "UPDATE analytics_raw.stat_event SET host = 'edited by hand'"
        " WHERE old_id = (SELECT min(old_id) FROM analytics_raw.stat_event) RETURNING old_id"
    )[0][0]
    code, out, _ = _verify(run_cli, env, "StatEvent")
    assert code == 1
    assert f"differing: 1 (e.g. old_id={key})" in out
    code, out, err = _verify(run_cli, env, "--repair", "StatEvent")
    assert code == 0, out + err
    assert dbs.query_analytics(
        "SELECT host FROM analytics_raw.stat_event WHERE old_id = %s", (key,)
    ) == dbs.query_core('SELECT host FROM "StatEvent" WHERE id = %s', (key,))


def test_a_row_missing_from_analytics_is_missing(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "ImportJob")
    key = dbs.query_analytics(
        "DELETE FROM analytics_raw.import_job WHERE id = (SELECT id FROM"
        " analytics_raw.import_job ORDER BY id LIMIT 1) RETURNING id::text"
    )[0][0]
    code, out, _ = _verify(run_cli, env, "ImportJob")
    assert code == 1
    assert f"missing: 1 (e.g. id={key})" in out
    assert _verify(run_cli, env, "--repair", "ImportJob")[0] == 0
    assert count(dbs, "analytics_raw.import_job") == int(
        dbs.query_core('SELECT count(*) FROM "ImportJob" WHERE "finishedAt" IS NOT NULL')[0][0]
    )


def test_rows_after_the_saved_position_are_pending_not_missing(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent")
    # Changed in core after the sync: analytics holds the old version, not a difference.
    dbs.query_core(
        'UPDATE "StatEvent" SET host = \'changed\', "updatedAt" = "updatedAt" + interval \'1 day\''
        ' WHERE id IN (SELECT id FROM "StatEvent" ORDER BY id LIMIT 3)'
    )
    code, out, err = _verify(run_cli, env, "StatEvent")
    assert code == 0, out + err
    assert "pending: 3 source row(s) after the saved position" in out


def test_only_the_range_that_differs_is_diffed_row_by_row(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=0, import_jobs=60)
    synced(dbs, run_cli, env, "ImportJob")
    dbs.query_analytics(
        'UPDATE analytics_raw.import_job SET "nbErrors" = -1 WHERE id = (SELECT id FROM'
        ' analytics_raw.import_job ORDER BY "finishedAt", id OFFSET 25 LIMIT 1)'
    )
    with databases(dbs) as pools:
        report = verify(pools, JOB, "ImportJob", definition("ImportJob"), range_size=10)
    assert report.ranges_differing == 1
    assert report.ranges_checked >= 5
    # The clean ranges were settled by hashes on each server, without moving a row.
    assert report.ranges_in_place == report.ranges_checked - 1
    assert report.counts == {"missing": 0, "extra": 0, "differing": 1, "unwritable": 0}
