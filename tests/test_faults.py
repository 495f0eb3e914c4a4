"""Riding out lost connections: seeded network faults between the runner and each database.

Every connection of the runner goes through a fault proxy (tests/faultproxy.py),
one for core and one for analytics. Each trial changes core (new rows, updated
rows), arms one fault and runs two definitions (one COPY to COPY, one through a
Python transform); the run must reconnect, resume from its last committed batch
and succeed (TABLESYNC_RUN_RETRIES is 3, one fault per trial). A trial whose run
still fails gets a rerun. After each trial analytics must equal core row for
row (ids and per-row md5) and no key may have been inserted twice. The runs go
through the real CLI on tests/definitions/crash.py (Copied and Transformed).

A fault is a cut (FIN), a reset (RST) or a stall (the connection left open,
nothing forwarded: the run's stall watchdog must find it) of every connection
to the chosen database, at a phase of the run (read, transform, copy, upsert,
commit, committed: the kill points of services/base/testhooks.py), at the
commit with its answer lost ("position": the server committed, the runner
cannot know), after a seeded number of bytes, or after a seeded delay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dbtools import TestDatabases, run_cli
from definitions.crash import BATCH_SIZE
from faultkit import (
    EVENTS_ANALYTICS,
    JOB,
    create_events,
    events_in,
    fault_env,
    insert_events,
    log_writes,
    phase_counts,
)
from faultproxy import FaultProxy

SEED = 13
TRIALS = 50
NEW_ROWS, UPDATED_ROWS = 24, 8
CHANGED = NEW_ROWS + UPDATED_ROWS
BATCHES = -(-CHANGED // BATCH_SIZE)
# phase -> how many times one trial's run reaches it (both definitions together);
# "position" is a commit whose answer is lost: armed at the commit point.
PHASES = phase_counts(CHANGED, BATCHES)
PHASES["position"] = PHASES["commit"]
UNTIMED = ("bytes", "time")
NAMES = ("Copied", "Transformed")
TRANSFORMED_SUMS = "SELECT id, md5(ROW(id, at, payload)::text) FROM analytics_raw.events_t"


@dataclass
class Tally:
    """What the trials did, as the harness prints it."""

    trials: int = 0
    survived: int = 0  # the faulted run itself succeeded
    resumes: int = 0
    reruns: int = 0
    lost_rows: int = 0
    duplicated_rows: int = 0
    given_up: list[str] = field(default_factory=list)  # the trials whose run failed

    def line(self) -> str:
        return (
            f"fault trials: {self.trials}, survived: {self.survived} (resumed {self.resumes}"
            f" times), needed a rerun: {self.reruns}, lost rows: {self.lost_rows},"
            f" duplicated rows: {self.duplicated_rows}"
        )


@pytest.fixture
def env(dbs: TestDatabases, tmp_path: Path, proxies: dict[str, FaultProxy]) -> dict[str, str]:
    """The CLI on tests/definitions/crash.py, every connection through a fault proxy."""
    create_events(dbs)
    dbs.query_analytics(EVENTS_ANALYTICS.replace("analytics_raw.events", "analytics_raw.events_t"))
    log_writes(dbs, "analytics_raw.events", "analytics_raw.events_t", events="INSERT")
    env = fault_env(dbs, tmp_path, "crash")
    env.update(
        DATABASE_URL_CORE=proxies["core"].url(dbs.core_url),
        DATABASE_URL_ANALYTICS=proxies["analytics"].url(dbs.analytics_url),
        TABLESYNC_RUN_RETRIES="3",
        TABLESYNC_CONNECT_RETRIES="2",
        TABLESYNC_CONNECT_BACKOFF_S="0.05",
        # A stalled statement is lost after twice this: keeps the stall trials short.
        TABLESYNC_STATEMENT_TIMEOUT_S="1",
        TABLESYNC_TRANSFORM_WORKERS="0",  # one kill-point counter sees every row
    )
    return env


def _mutate(dbs: TestDatabases, rng: random.Random, tag: str) -> None:
    last_id = dbs.query_core("SELECT coalesce(max(id), 0) FROM events")[0][0]
    insert_events(dbs, NEW_ROWS, tag)
    updated = rng.sample(range(1, last_id + 1), min(UPDATED_ROWS, last_id))
    dbs.query_core(
        "UPDATE events SET payload = payload || '+', at = clock_timestamp() WHERE id = ANY(%s)",
        (updated,),
    )


def _arm(rng: random.Random, proxy: FaultProxy) -> tuple[str, dict[str, str]]:
    """Arm one seeded fault on ``proxy``; returns its description and the run's extra env."""
    phase = rng.choice([*PHASES, *UNTIMED])
    kind = "drop_reply" if phase == "position" else rng.choice(["cut", "reset", "stall"])
    proxy.arm(kind)
    if phase == "bytes":
        nbytes = rng.randint(1, 60_000)
        proxy.cut_after(nbytes)
        return f"{kind} after {nbytes} bytes", {}
    if phase == "time":
        delay = rng.uniform(0.2, 1.2)
        proxy.cut_in(delay)
        return f"{kind} after {delay:.2f} s", {}
    n = rng.randint(1, PHASES[phase])
    point = "commit" if phase == "position" else phase
    extra = {
        "TABLESYNC_TEST_KILL_AT": f"{point}:{n}",
        "TABLESYNC_TEST_KILL_WITH": f"fault:{proxy.control_address}",
    }
    return f"{kind} at {phase}:{n}", extra


def _check(dbs: TestDatabases, tally: Tally, what: str) -> None:
    core = events_in(dbs, "core")
    transformed = {r[0]: r[1] for r in dbs.query_analytics(TRANSFORMED_SUMS)}
    for found in (events_in(dbs, "analytics"), transformed):
        tally.lost_rows += len(core.keys() - found.keys())
        assert found == core, what
    twice = dbs.query_analytics(
        "SELECT count(*) FROM (SELECT 1 FROM written GROUP BY tbl, id HAVING count(*) > 1) d"
    )
    tally.duplicated_rows += int(twice[0][0])


def _trial(
    dbs: TestDatabases,
    env: dict[str, str],
    cwd: Path,
    proxies: dict[str, FaultProxy],
    rng: random.Random,
    tally: Tally,
) -> None:
    tally.trials += 1
    _mutate(dbs, rng, f"t{tally.trials}")
    database = rng.choice(["core", "analytics"])
    proxy = proxies[database]
    faults_before = proxy.faults
    what, extra = _arm(rng, proxy)
    what = f"trial {tally.trials}: {database} {what}"
    outcome = run_cli([JOB, *NAMES], {**env, **extra}, cwd=cwd)
    proxy.disarm()  # a budget or delay this trial did not spend is not the next one's
    tally.resumes += outcome.stderr.count("resuming from its last committed batch")
    assert "Traceback" not in outcome.stderr, f"{what}: {outcome.stderr}"
    if outcome.code == 0:
        tally.survived += 1
    else:
        tally.reruns += 1
        tally.given_up.append(f"{what}: {outcome.error_lines}")
        rerun = run_cli([JOB, *NAMES], env, cwd=cwd)
        assert rerun.code == 0, f"{what}: {rerun.stderr}"
    _check(dbs, tally, what)
    assert proxy.faults > faults_before or not extra, f"{what}: the fault never happened"


def test_seeded_network_faults_lose_and_duplicate_nothing(
    dbs: TestDatabases,
    env: dict[str, str],
    tmp_path: Path,
    proxies: dict[str, FaultProxy],
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = random.Random(SEED)
    insert_events(dbs, 40, "base")
    first = run_cli([JOB, *NAMES], env, cwd=tmp_path)
    assert first.code == 0, first.stderr
    tally = Tally()
    for _ in range(TRIALS):
        _trial(dbs, env, tmp_path, proxies, rng, tally)
    with capsys.disabled():
        print(f"\n{tally.line()}")
    assert (tally.lost_rows, tally.duplicated_rows) == (0, 0)
    # One fault per trial and three resumes allowed: every run rides it out by itself.
    assert tally.survived == tally.trials, "\n".join([tally.line(), *tally.given_up])
