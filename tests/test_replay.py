"""Replay, reset and skip: the saved position moved on purpose, with a run record saying so."""

from __future__ import annotations

import json

from dbtools import TestDatabases
from opstools import JOB, RunCli, position, runs, saved_state, seeded, synced

from services.store.lock import definition_lock

EXPORTABLE = '"updatedAt" IS NOT NULL AND id IS NOT NULL'


def _last_run(dbs: TestDatabases, name: str) -> tuple[object, ...]:
    return runs(dbs, name)[-1]


def _rows_read_by_next_run(run_cli: RunCli, env: dict[str, str], name: str) -> int:
    code, out, err = run_cli([JOB, "--json", name], env=env)
    assert code == 0, out + err
    return int(json.loads(out)[0]["counts"]["read"])


def test_reset_asks_first_and_a_no_changes_nothing(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent")
    before = saved_state(dbs, "StatEvent")
    code, out, err = run_cli([JOB, "--reset", "StatEvent"], env, stdin="n\n")
    assert code == 1
    assert "Go ahead?" in err and "error: aborted" in err
    assert "saved position after: none (the start)" in out
    assert saved_state(dbs, "StatEvent") == before


def test_reset_replays_every_row_and_is_recorded(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent")
    code, out, err = run_cli([JOB, "--reset", "StatEvent"], env, stdin="y\n")
    assert code == 0, out + err
    assert position(dbs, "StatEvent") == (None, None)
    status, read, before, after, note, command = _last_run(dbs, "StatEvent")
    assert (status, read, after) == ("succeeded", 0, None)
    assert before is not None and "reset to the start" in str(note)
    # The note is not an error: error_text stays empty on a record that succeeded.
    assert dbs.query_analytics(
        "SELECT error_text FROM tablesync.runs ORDER BY id DESC LIMIT 1"
    ) == [(None,)]
    assert "--reset" in str(command)
    total = dbs.query_core(f'SELECT count(*) FROM "StatEvent" WHERE {EXPORTABLE}')[0][0]
    assert _rows_read_by_next_run(run_cli, env, "StatEvent") == total


def test_from_a_cursor_value_re_exports_exactly_the_rows_at_and_after_it(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent")
    # A value shared by several rows (the seed puts ~10 rows on each timestamp).
    value = dbs.query_core(
        'SELECT "updatedAt"::text FROM "StatEvent" ORDER BY "updatedAt", id OFFSET 95 LIMIT 1'
    )[0][0]
    at_or_after = dbs.query_core(
        f'SELECT count(*) FROM "StatEvent" WHERE {EXPORTABLE} AND "updatedAt" >= %s', (value,)
    )[0][0]
    code, out, err = run_cli([JOB, "--from", value, "--yes", "StatEvent"], env=env)
    assert code == 0, out + err
    assert f"replay from updatedAt >= {value}" in _last_run(dbs, "StatEvent")[4]  # type: ignore[operator]
    assert _rows_read_by_next_run(run_cli, env, "StatEvent") == at_or_after


def test_from_a_value_and_id_starts_at_that_row(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent")
    value, row_id = dbs.query_core(
        'SELECT "updatedAt"::text, id FROM "StatEvent" ORDER BY "updatedAt", id OFFSET 123 LIMIT 1'
    )[0]
    expected = dbs.query_core(
        f'SELECT count(*) FROM "StatEvent" WHERE {EXPORTABLE} AND ("updatedAt", id) >= (%s, %s)',
        (value, row_id),
    )[0][0]
    args = [JOB, "--from", value, "--from-id", row_id, "--yes", "StatEvent"]
    code, out, err = run_cli(args, env=env)
    assert code == 0, out + err
    assert _rows_read_by_next_run(run_cli, env, "StatEvent") == expected


def test_from_a_value_that_is_not_of_the_cursor_type_is_a_usage_error(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    code, out, err = run_cli([JOB, "--from", "yesterday-ish", "--yes", "StatEvent"], env=env)
    assert code == 2
    assert err.startswith(
        "error: StatEvent: --from 'yesterday-ish' is not a valid timestamp with time zone"
        " for public.StatEvent.updatedAt"
    )
    assert runs(dbs, "StatEvent") == []


def test_from_id_without_from_is_refused(run_cli: RunCli, env: dict[str, str]) -> None:
    code, _, err = run_cli([JOB, "--from-id", "x", "StatEvent"], env=env)
    assert code == 2
    assert err == "error: --from-id goes with --from VALUE\n"


def test_a_reset_while_a_run_holds_the_lock_exits_75_and_changes_nothing(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent")
    before = saved_state(dbs, "StatEvent")
    with definition_lock(dbs.analytics(), JOB, "StatEvent"):
        code, _, err = run_cli([JOB, "--reset", "--yes", "StatEvent"], env=env)
    assert code == 75
    assert "holds its lock" in err
    assert saved_state(dbs, "StatEvent") == before


def _value_at(dbs: TestDatabases, offset: int) -> str:
    return str(
        dbs.query_core(
            f'SELECT "updatedAt"::text FROM "StatEvent" WHERE {EXPORTABLE}'
            ' ORDER BY "updatedAt", id OFFSET %s LIMIT 1',
            (offset,),
        )[0][0]
    )


def _exportable_between(dbs: TestDatabases, low: str | None, high: str) -> int:
    """Exportable rows with low <= updatedAt < high (from the start when low is None)."""
    rows = dbs.query_core(
        f'SELECT count(*) FROM "StatEvent" WHERE {EXPORTABLE}'
        ' AND (%s::timestamptz IS NULL OR "updatedAt" >= %s::timestamptz)'
        ' AND "updatedAt" < %s::timestamptz',
        (low, low, high),
    )
    return int(rows[0][0])


def test_from_past_the_saved_position_says_how_many_rows_it_skips_and_asks(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent")
    back, ahead = _value_at(dbs, 50), _value_at(dbs, 150)
    assert run_cli([JOB, "--from", back, "--yes", "StatEvent"], env=env)[0] == 0
    before = saved_state(dbs, "StatEvent")
    skipped = _exportable_between(dbs, back, ahead)
    assert 0 < skipped < 200

    forward = [JOB, "--from", ahead, "StatEvent"]
    for answer in ("n\n", None):  # no, and no one to answer (cron): nothing moves
        code, out, err = run_cli(forward, env, stdin=answer)
        assert code == 1 and "error: aborted" in err
        assert f"StatEvent: skip forward to updatedAt >= {ahead}" in out
        assert f"  skips {skipped:,} row(s) never exported (counted)" in out
        assert "replay" not in out
        assert saved_state(dbs, "StatEvent") == before

    code, out, err = run_cli([*forward, "--yes"], env=env)
    assert code == 0, out + err
    assert f"{skipped:,} row(s) never exported skipped" in out
    note = str(_last_run(dbs, "StatEvent")[4])
    assert note.startswith(f"skip forward to updatedAt >= {ahead}; {skipped:,} row(s)")
    expected = dbs.query_core(
        f'SELECT count(*) FROM "StatEvent" WHERE {EXPORTABLE} AND "updatedAt" >= %s', (ahead,)
    )[0][0]
    assert _rows_read_by_next_run(run_cli, env, "StatEvent") == expected


def test_from_on_a_definition_never_run_skips_the_rows_before_it(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    ahead = _value_at(dbs, 120)
    code, out, err = run_cli([JOB, "--json", "--from", ahead, "--yes", "StatEvent"], env=env)
    assert code == 0, out + err
    done = json.loads(out)
    assert (done["action"], done["position_before"]) == ("skip", None)
    assert (done["rows_skipped"], done["rows_skipped_counted"]) == (
        _exportable_between(dbs, None, ahead),
        "exact",
    )
