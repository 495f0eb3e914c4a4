"""The guard against mass deletion: a repair that would delete more than
TABLESYNC_MAX_DELETE_FRACTION of a destination stops before deleting anything,
unless --yes; the run record and Slack say so."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from dbtools import TestDatabases
from opstools import JOB, RunCli, count, seeded, synced
from slack_server import SlackServer, serve_slack

from services.base.errors import MassDeleteError
from services.store.delete_guard import DeleteGuard

IMPORT_JOB = "analytics_raw.import_job"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with serve_slack() as server:
        yield server


def _half_deleted_in_core(dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]) -> int:
    seeded(dbs, stat_events=0, import_jobs=100)
    synced(dbs, run_cli, env, "ImportJob")
    held = count(dbs, IMPORT_JOB)
    dbs.query_core(
        'DELETE FROM "ImportJob" WHERE id IN (SELECT id FROM "ImportJob"'
        ' WHERE "finishedAt" IS NOT NULL ORDER BY id LIMIT %s)',
        (held // 2,),
    )
    return held


def _last_record(dbs: TestDatabases) -> tuple[object, ...]:
    rows = dbs.query_analytics(
        "SELECT status, rows_deleted, error_text FROM tablesync.runs ORDER BY id DESC LIMIT 1"
    )
    return tuple(rows[0])


@pytest.mark.parametrize("keys", [True, False], ids=["keys", "full"])
def test_a_repair_deleting_half_the_destination_is_refused_then_done_with_yes(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str], slack: SlackServer, keys: bool
) -> None:
    held = _half_deleted_in_core(dbs, run_cli, env)
    half = held // 2
    env = {**env, "SLACK_WEBHOOK_URL": slack.webhook_url}
    verify = [JOB, "--verify", *(["--keys"] if keys else []), "--repair"]

    code, _, err = run_cli([*verify, "ImportJob"], env=env)

    assert code == 1
    flags = "--verify --keys --repair --yes" if keys else "--verify --repair --yes"
    line = (
        f"error: ImportJob: would delete {half:,} of {held:,} row(s) of {IMPORT_JOB} (50%),"
        " more than TABLESYNC_MAX_DELETE_FRACTION=0.1 (10%); nothing was deleted: run"
        f" `python run_job.py export-to-pg {flags} ImportJob` to delete them"
    )
    assert [e for e in err.splitlines() if e.startswith("error:")] == [line]
    assert count(dbs, IMPORT_JOB) == held
    assert _last_record(dbs) == ("failed", 0, line.removeprefix("error: "))
    [message] = slack.requests
    assert "would delete" in json.dumps(message.json()) and "failed" in message.json()["text"]

    code, out, err = run_cli([*verify, "--yes", "ImportJob"], env=env)

    assert code == 0, out + err
    assert count(dbs, IMPORT_JOB) == held - half
    assert _last_record(dbs)[:2] == ("succeeded", half)


def test_a_deletion_within_the_fraction_needs_no_yes(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    held = _half_deleted_in_core(dbs, run_cli, env)
    env = {**env, "TABLESYNC_MAX_DELETE_FRACTION": "0.5"}

    code, out, err = run_cli([JOB, "--verify", "--keys", "--repair", "ImportJob"], env=env)

    assert code == 0, out + err
    assert count(dbs, IMPORT_JOB) == held - held // 2


def test_a_bad_fraction_is_a_configuration_error(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    env = {**env, "TABLESYNC_MAX_DELETE_FRACTION": "2"}
    code, _, err = run_cli([JOB, "--verify", "--keys", "--repair", "ImportJob"], env=env)
    assert code == 2
    assert "error: TABLESYNC_MAX_DELETE_FRACTION=2 must be a fraction from 0 to 1" in err


def test_the_guard_counts_only_as_far_as_it_must(dbs: TestDatabases) -> None:
    from opstools import databases, definition

    from services.store.preflight import plan_definition

    seeded(dbs, stat_events=0, import_jobs=0)
    dbs.query_analytics(
        "INSERT INTO analytics_raw.import_job SELECT gen_random_uuid(), 's', 'ok', now(), NULL,"
        " NULL, now(), now(), 0, 0, 0, 0 FROM generate_series(1, 1000)"
    )
    with databases(dbs) as pools, pools.analytics.connection() as conn:
        with pools.core.connection() as core:
            plan = plan_definition(
                JOB, "ImportJob", definition("ImportJob"), core=core, analytics=conn
            )
        guard = DeleteGuard(plan, 0.1)
        guard.check(conn, deleting=10)
        assert guard.known_rows == 200  # twice the 100 rows that 10 deletions need
        guard.check(conn, deleting=10, deleted=10)  # known already: no count
        assert guard.known_rows == 200
        with pytest.raises(MassDeleteError) as refused:
            # 20 deleted already (by this go: not in the table, still in its base of 1,020).
            guard.check(conn, deleting=90, deleted=20)
        assert (refused.value.deleting, refused.value.rows) == (110, 1020)
        DeleteGuard(plan, 0.1, allowed=True).check(conn, deleting=1000)
