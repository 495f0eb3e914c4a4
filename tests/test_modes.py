"""One mode per command line: modes that cannot be combined, options that belong to one
mode, and ``--json`` in every mode. A refusal is exit 2 with one ``error:`` line naming
the options, before anything is read or written."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from dbtools import TestDatabases
from opstools import JOB, RunCli, runs, saved_state, seeded, synced

MODES = {
    "--status": [],
    "--dry-run": [],
    "--verify": [],
    "--reset": [],
    "--from": ["2026-01-01 00:00:00+00"],
    "--full-refresh": [],
    "--follow": [],
}
ALL_MODES = "--status, --dry-run, --verify, --reset, --from, --full-refresh, --follow"


def _one_error(outcome: tuple[int, str, str]) -> str:
    code, out, err = outcome
    assert code == 2, out + err
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("error: ")
    return line


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(MODES, 2)))
def test_two_modes_are_refused_naming_both(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str], first: str, second: str
) -> None:
    args = [JOB, first, *MODES[first], second, *MODES[second], "--yes", "StatEvent"]
    line = _one_error(run_cli(args, env=env))
    assert line == (
        f"error: {first} and {second} cannot be combined: a command does one of {ALL_MODES},"
        " or runs the definitions"
    )
    assert runs(dbs, "StatEvent") == []


def test_three_modes_are_named_too(run_cli: RunCli, env: dict[str, str]) -> None:
    line = _one_error(run_cli([JOB, "--status", "--dry-run", "--reset", "StatEvent"], env=env))
    assert line.startswith("error: --status, --dry-run and --reset cannot be combined: ")


def test_status_with_reset_and_yes_resets_nothing(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    synced(dbs, run_cli, env, "StatEvent")
    before = saved_state(dbs, "StatEvent")
    _one_error(run_cli([JOB, "--status", "--reset", "--yes", "StatEvent"], env=env))
    assert saved_state(dbs, "StatEvent") == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repair", "StatEvent"], "error: --repair goes with --verify"),
        (["--status", "--repair"], "error: --repair goes with --verify"),
        (["--keys", "StatEvent"], "error: --keys goes with --verify"),
        (
            ["--every", "2s", "StatEvent"],
            "error: --every is how often --follow runs a cycle: add --follow",
        ),
        (
            ["--follow", "--every", "0s", "StatEvent"],
            "error: Invalid value for '--every': '0s' is no interval: give a duration above 0,"
            " e.g. 2s",
        ),
        (
            ["--follow", "--json", "StatEvent"],
            "error: --json prints a run's result, and --follow runs until stopped: a follower's"
            " live figures are in --status --json",
        ),
        (["--reset", "--from-id", "x", "StatEvent"], "error: --from-id goes with --from VALUE"),
        (
            ["--verify", "--max-lag", "15m", "StatEvent"],
            "error: --max-lag is a check of the status view: add --status",
        ),
        *(
            (
                [mode, *MODES[mode], "--jobs", "2", "--all"],
                f"error: --jobs runs definitions side by side: it goes with a run, not with {mode}",
            )
            for mode in MODES
        ),
        *(
            (
                [*mode, "--yes", "StatEvent"],
                f"error: --yes answers a confirmation, and {shown} asks none: it goes with"
                " a run (soft deletes past TABLESYNC_MAX_DELETE_FRACTION), --reset, --from,"
                " --full-refresh or --verify --repair",
            )
            for mode, shown in (
                (["--status"], "--status"),
                (["--dry-run"], "--dry-run"),
            )
        ),
    ],
)
def test_an_option_outside_its_mode_is_refused_naming_it(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str], args: list[str], message: str
) -> None:
    assert _one_error(run_cli([JOB, *args], env=env)) == message
    assert runs(dbs, "StatEvent") == []


def test_a_bad_from_id_is_reported_as_a_bad_from_id(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs)
    args = [JOB, "--from", "2026-01-01 00:00:00+00", "--from-id", "nope", "--yes", "ImportJob"]
    line = _one_error(run_cli(args, env=env))
    assert line.startswith(
        "error: ImportJob: --from-id 'nope' is not a valid uuid for public.ImportJob.id"
    )
    assert runs(dbs, "ImportJob") == []


# --- --json in every mode ----------------------------------------------------------------


def _json(run_cli: RunCli, env: dict[str, str], *args: str) -> Any:
    code, out, err = run_cli([JOB, "--json", *args], env=env)
    assert code == 0, out + err
    return json.loads(out)


def test_json_is_honoured_by_every_mode(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=0, import_jobs=30)
    (ran,) = _json(run_cli, env, "ImportJob")
    assert ran["status"] == "succeeded"
    (status,) = _json(run_cli, env, "--status", "ImportJob")
    assert status["definition"] == "ImportJob"
    assert _json(run_cli, env, "--dry-run", "ImportJob")["definition"] == "ImportJob"
    assert _json(run_cli, env, "--verify", "ImportJob")["differs"] is False
    reset = _json(run_cli, env, "--reset", "--yes", "ImportJob")
    newest_run = dbs.query_analytics("SELECT max(id) FROM tablesync.runs")[0][0]
    assert reset == {
        "definition": "ImportJob",
        "action": "reset",
        "position_before": ran["position_after"],
        "position_after": None,
        "rows_skipped": 0,
        "rows_skipped_counted": "exact",
        "run_id": newest_run,
    }
    refresh = _json(run_cli, env, "--full-refresh", "--yes", "ImportJob")
    assert refresh["action"] == "full refresh"
    assert refresh["rows_read"] == ran["counts"]["read"]


def test_with_json_a_plan_and_its_question_go_to_stderr(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=0, import_jobs=10)
    code, out, err = run_cli([JOB, "--json", "--reset", "ImportJob"], env=env, stdin="y\n")
    assert code == 0, out + err
    assert json.loads(out)["action"] == "reset"
    assert "saved position after: none (the start)" in err and "Go ahead?" in err
