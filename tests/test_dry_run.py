"""--dry-run: the pre-flight, then what a run would do, and nothing written anywhere."""

from __future__ import annotations

import json
import re

from dbtools import TestDatabases
from opstools import JOB, RunCli, count, runs, seeded, synced

from services.reporting.report import utc_times

WRITES = (
    "SELECT (SELECT count(*) FROM tablesync.runs), (SELECT count(*) FROM tablesync.positions),"
    " (SELECT count(*) FROM analytics_raw.stat_event), (SELECT count(*) FROM pg_class"
    " WHERE relnamespace = 'analytics_raw'::regnamespace)"
)


def test_a_dry_run_says_what_a_run_would_do_and_writes_nothing(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=300, import_jobs=0)
    dbs.query_core('ANALYZE "StatEvent"')
    before = dbs.query_analytics(WRITES)
    code, out, err = run_cli([JOB, "--dry-run", "StatEvent"], env=env)
    assert code == 0, out + err
    assert dbs.query_analytics(WRITES) == before == [(0, 0, 0, before[0][3])]
    lines = out.splitlines()
    assert lines[0] == "StatEvent: dry run, nothing written"
    assert lines[1] == "  core public.StatEvent -> analytics analytics_raw.stat_event (python copy)"
    assert lines[2] == "  from: the start (no saved position)"
    assert lines[3].startswith("  up to: updatedAt <")
    assert lines[4] == "  300 row(s) pending (counted), 1 batch(es) of 10,000"
    # A backfill into an empty destination, transformed by the workers from the second
    # chunk on.
    (route,) = [line for line in lines if line.startswith("  route: ")]
    assert re.fullmatch(
        r"  route: chunks read by workers \(\d\), written straight;"
        r" staging keyed\+ordinal\+deletes",
        route,
    ), route


def test_a_dry_run_after_a_sync_starts_after_the_saved_position(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=50, import_jobs=40)
    synced(dbs, run_cli, env, "ImportJob")
    value, row_id = dbs.query_analytics(
        "SELECT cursor_value, cursor_id FROM tablesync.positions WHERE definition = 'ImportJob'"
    )[0]
    records = runs(dbs, "ImportJob")
    code, out, err = run_cli([JOB, "--dry-run", "--json", "ImportJob"], env=env)
    assert code == 0, out + err
    found = json.loads(out)
    # JSON says the saved timestamptz in RFC 3339 UTC, as every time it carries.
    assert found["after"] == {"value": utc_times(value), "id": row_id}
    assert found["mode"] == "binary" and found["batch_size"] == 10_000
    assert found["rows_pending_estimate"] == found["batches_estimate"] == 0
    assert found["rows_pending_exact"] is True
    assert found["route"].startswith("batches read by keyset, written staged; staging keyed")
    assert runs(dbs, "ImportJob") == records


def test_a_dry_run_fails_the_pre_flight_like_a_run(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    dbs.query_analytics("DROP TABLE analytics_raw.import_job")
    code, out, err = run_cli([JOB, "--dry-run", "ImportJob"], env=env)
    assert code == 2
    assert err.startswith("error: ")
    assert "analytics table analytics_raw.import_job does not exist" in err
    assert out == ""
    assert count(dbs, "tablesync.runs") == 0
