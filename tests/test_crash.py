"""Guarantee 2 (docs/guarantees.md) under SIGKILL: whatever instant the runner dies at, the
rerun loses and duplicates nothing.

Each instant: core changes (new rows, updated rows), a run of two definitions
(one streaming COPY to COPY, one through a Python transform) is killed with
SIGKILL, a clean rerun goes to the end, and analytics must equal core row for
row (count and per-row md5) with the saved position at core's last row.

Phase instants use the test-only hook of services/base/testhooks.py
(TABLESYNC_TEST_KILL_AT="phase:n": the process kills itself the n-th time it
reaches the phase); time instants kill from outside after a seeded random
delay. Coverage: SEEDS x (PHASES + 1 timed) instants, plus a killed first load.

A kill point counts in the process that reaches it, so the phase instants run
with the transform in the runner (TABLESYNC_TRANSFORM_WORKERS=0), where one
counter sees every row; kills inside transform workers, which take the
runner down with them, have tests of their own at the end.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from dbtools import TestDatabases, finish, run_cli, start_cli
from definitions.crash import BATCH_SIZE
from faultkit import (
    EVENTS_ANALYTICS,
    JOB,
    create_events,
    events_in,
    fault_env,
    insert_events,
    phase_counts,
    wait_for_dead_sessions,
)

SEEDS = (11, 22, 33)
NEW_ROWS, UPDATED_ROWS = 30, 10
CHANGED = NEW_ROWS + UPDATED_ROWS
BATCHES = -(-CHANGED // BATCH_SIZE)
# phase -> how many times one run reaches it (both definitions together).
PHASES = phase_counts(CHANGED, BATCHES)
TIMED_KILL_MAX_S = 1.5
NAMES = ("Copied", "Transformed")

TRANSFORMED_SUMS = "SELECT id, md5(ROW(id, at, payload)::text) FROM analytics_raw.events_t"
LAST_CORE_ROW = (
    "SELECT at::text, id::text FROM (SELECT at, id FROM events ORDER BY at DESC, id DESC LIMIT 1) r"
)
POSITIONS = "SELECT definition, cursor_value, cursor_id FROM tablesync.positions ORDER BY 1"


@pytest.fixture
def env(dbs: TestDatabases, tmp_path: Path) -> dict[str, str]:
    """The CLI on tests/definitions/crash.py (Copied and Transformed), tables created."""
    create_events(dbs)
    dbs.query_analytics(EVENTS_ANALYTICS.replace("analytics_raw.events", "analytics_raw.events_t"))
    return fault_env(dbs, tmp_path, "crash")


def _mutate(dbs: TestDatabases, rng: random.Random, tag: str) -> None:
    last_id = dbs.query_core("SELECT coalesce(max(id), 0) FROM events")[0][0]
    insert_events(dbs, NEW_ROWS, tag)
    updated = rng.sample(range(1, last_id + 1), UPDATED_ROWS)
    dbs.query_core(
        "UPDATE events SET payload = payload || '+', at = clock_timestamp() WHERE id = ANY(%s)",
        (updated,),
    )


def _rerun_and_check(dbs: TestDatabases, env: dict[str, str], tmp_path: Path, instant: str) -> None:
    wait_for_dead_sessions(dbs)
    rerun = run_cli([JOB, *NAMES], env, cwd=tmp_path)
    assert rerun.code == 0, f"{instant}: {rerun.stderr}"
    core = events_in(dbs, "core")
    assert events_in(dbs, "analytics") == core, instant
    assert {r[0]: r[1] for r in dbs.query_analytics(TRANSFORMED_SUMS)} == core, instant
    last = tuple(dbs.query_core(LAST_CORE_ROW)[0])
    assert [tuple(r[1:]) for r in dbs.query_analytics(POSITIONS)] == [last, last], instant
    running = dbs.query_analytics("SELECT count(*) FROM tablesync.runs WHERE status = 'running'")
    assert running == [(0,)], f"{instant}: a run record stayed 'running'"


SERIAL = {"TABLESYNC_TRANSFORM_WORKERS": "0"}


def _kill_at_phase(
    dbs: TestDatabases,
    env: dict[str, str],
    tmp_path: Path,
    phase: str,
    n: int,
    extra: dict[str, str] = SERIAL,
) -> None:
    killed = run_cli(
        [JOB, *NAMES], {**env, **extra, "TABLESYNC_TEST_KILL_AT": f"{phase}:{n}"}, cwd=tmp_path
    )
    assert killed.code == -signal.SIGKILL, f"{phase}:{n} was never reached: {killed.stderr}"
    _rerun_and_check(dbs, env, tmp_path, f"{phase}:{n}")


def _kill_after(dbs: TestDatabases, env: dict[str, str], tmp_path: Path, delay_s: float) -> None:
    proc = start_cli([JOB, *NAMES], env, cwd=tmp_path)
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)  # may come after the run ended: that is fine too
    finish(proc)
    _rerun_and_check(dbs, env, tmp_path, f"after {delay_s:.3f} s")


def test_a_killed_first_load_resumes_exactly(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path
) -> None:
    insert_events(dbs, 100)
    _kill_at_phase(dbs, env, tmp_path, "copy", 150)  # in "Transformed", past its first batches


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_at_any_instant_loses_and_duplicates_nothing(
    dbs: TestDatabases, env: dict[str, str], tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    insert_events(dbs, 60, "base")
    assert run_cli([JOB, *NAMES], env, cwd=tmp_path).code == 0
    for phase, reached in PHASES.items():
        _mutate(dbs, rng, f"s{seed}-{phase}")
        _kill_at_phase(dbs, env, tmp_path, phase, rng.randint(1, reached))
    _mutate(dbs, rng, f"s{seed}-timed")
    _kill_after(dbs, env, tmp_path, rng.uniform(0, TIMED_KILL_MAX_S))
