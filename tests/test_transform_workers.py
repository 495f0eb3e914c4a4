"""Transform workers (services/sync/transform/transform_workers.py): what they write, how they fail.

Every test here runs a multi-batch transform with workers on and checks that
they were used, so each would go red if the worker path wrote other rows than
the runner does, lost a batch, or hid an error.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from dbtools import TestDatabases, start_cli
from faultkit import JOB, fault_env
from synctools import counts_of, definition, failing_on, on_both, position, sync

from services.base.errors import ConfigurationError, RowError
from services.base.results import RunResult
from services.base.run_settings import WORKERS_VARIABLE, RunSettings
from services.sync.transform.transform_workers import cgroup_cpu_quota, usable_cpus, worker_count

# Every type family the COPY encoders treat apart, with the values that break
# naive encoders: quotes, tabs, newlines and backslashes in text, NULLs,
# jsonb numbers no float can hold, numeric digits, arrays, bytea, and an
# enum, which has no binary dumper and so makes the batch text COPY.

TYPED_TABLE = """
CREATE TABLE typed (
    id int PRIMARY KEY,
    ts timestamptz NOT NULL,
    t text,
    n numeric(30, 10),
    j jsonb,
    a int[],
    b bytea,
    f float8,
    d date,
    mood {mood}
)
"""
TYPED_ROWS = """
INSERT INTO typed
SELECT g,
       '2026-01-01 00:00:00+00'::timestamptz + (g / 4) * interval '1 second',
       CASE WHEN g %% 9 = 0 THEN NULL ELSE E'q''uote\\ttab\\nline\\\\back ' || g END,
       CASE WHEN g %% 7 = 0 THEN NULL ELSE g * 1234567.0123456789 END,
       CASE WHEN g %% 5 = 0 THEN NULL
            ELSE jsonb_build_object('g', g, 'big', 123456789012345678901234567890.5::numeric,
                                    's', E'a"b\\\\c', 'list', jsonb_build_array(g, null, true))
       END,
       ARRAY[g, g + 1],
       CASE WHEN g %% 3 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END,
       g / 3.0,
       DATE '2026-01-01' + g,
       {mood_value}
FROM generate_series(1, %s) g
"""
ROWS, BATCH = 120, 7


# First loads here read in cursor order, batch by batch: this module tests batches.
pytestmark = pytest.mark.usefixtures("failures_in_tmp", "cursor_order_first_loads")


def _workers(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setenv(WORKERS_VARIABLE, str(count))


def _typed_tables(dbs: TestDatabases) -> None:
    dbs.query_core(TYPED_TABLE.format(mood="text"))
    dbs.query_core(TYPED_ROWS.format(mood_value="(ARRAY['ok','sad','meh'])[g %% 3 + 1]"), (ROWS,))
    dbs.query_analytics("CREATE TYPE mood AS ENUM ('ok', 'sad', 'meh')")
    for name in ("by_runner", "by_workers"):
        dbs.query_analytics(TYPED_TABLE.replace("typed", name).format(mood="mood"))


def _shout(row: dict[str, Any]) -> dict[str, Any] | None:
    """Skips every 11th row, changes a text and a jsonb, passes the rest as read."""
    if row["id"] % 11 == 0:
        return None
    out = dict(row)
    out["t"] = None if row["t"] is None else row["t"].upper()
    if row["j"] is not None:
        out["j"] = {**row["j"], "seen": True}
    return out


def _table_text(dbs: TestDatabases, table: str) -> list[tuple[Any, ...]]:
    return dbs.query_analytics(f"SELECT id, md5(t::text) FROM {table} t ORDER BY id")


def test_workers_write_exactly_what_the_runner_writes(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch, debug_log: pytest.LogCaptureFixture
) -> None:
    _typed_tables(dbs)
    results = {}
    for name, count in (("by_runner", 0), ("by_workers", 3)):
        _workers(monkeypatch, count)
        export = definition(
            "typed", "ts", id_field="id", dest_table=name, transform=_shout, batch_size=BATCH
        )
        results[name] = sync(dbs, export, name=name)

    assert results["by_runner"].transform_workers == 0
    assert results["by_workers"].transform_workers == 3
    by_workers = _table_text(dbs, "by_workers")
    assert len(by_workers) == ROWS - ROWS // 11
    assert by_workers == _table_text(dbs, "by_runner")
    # The values themselves, not only their agreement: the transform's changes landed.
    row = dbs.query_analytics("SELECT t, j->>'seen', j->>'big', mood FROM by_workers WHERE id = 13")
    assert row == [
        ("Q'UOTE\tTAB\nLINE\\BACK 13", "true", "123456789012345678901234567890.5", "sad")
    ]
    assert counts_of(results["by_workers"]) == counts_of(results["by_runner"])
    assert [m for m in debug_log.messages if "transformed by a worker" in m]


def test_an_incremental_run_upserts_worker_batches_through_staging(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    _workers(monkeypatch, 2)
    _typed_tables(dbs)
    export = definition(
        "typed", "ts", id_field="id", dest_table="by_workers", transform=_shout, batch_size=BATCH
    )
    sync(dbs, export)
    dbs.query_core("UPDATE typed SET t = 'changed', ts = now() WHERE id % 4 = 0")
    added_rows = TYPED_ROWS.replace("generate_series(1, %s)", "generate_series(121, %s)")
    dbs.query_core(added_rows.format(mood_value="'meh'"), (150,))

    result = sync(dbs, export)

    assert result.transform_workers == 2
    changed = [i for i in range(1, 121) if i % 4 == 0 and i % 11]
    added = [i for i in range(121, 151) if i % 11]
    assert (result.counts.updated, result.counts.created) == (len(changed), len(added))
    rows = dbs.query_analytics("SELECT id FROM by_workers WHERE t = 'CHANGED' ORDER BY id")
    assert [r[0] for r in rows] == changed
    assert dbs.query_analytics("SELECT count(*) FROM by_workers")[0][0] == (
        ROWS - ROWS // 11 + len(added)
    )


def _numbered(dbs: TestDatabases, rows: int = 40) -> None:
    on_both(dbs, "CREATE TABLE t (id int PRIMARY KEY, n int, v text)")
    dbs.query_core(
        "INSERT INTO t SELECT g, g * 10, 'v' || g FROM generate_series(1, %s) g", (rows,)
    )


def _sync_keyed(
    dbs: TestDatabases,
    monkeypatch: pytest.MonkeyPatch,
    rows: int,
    to_key: Callable[[dict[str, Any]], dict[str, Any]],
) -> RunResult:
    """Sync ``rows`` of t with 2 workers into u (keyed on k, empty: the fast path) through
    ``to_key``, 3 rows a batch."""
    _workers(monkeypatch, 2)
    _numbered(dbs, rows=rows)
    dbs.query_analytics("CREATE TABLE u (k int PRIMARY KEY, v text)")
    export = definition(
        "t", "n", id_field="id", dest_table="u", keys=["k"], transform=to_key, batch_size=3
    )
    return sync(dbs, export)


@pytest.mark.parametrize("count", [0, 2])
def test_a_row_failing_in_a_worker_fails_the_run_as_in_the_runner(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    _workers(monkeypatch, count)
    _numbered(dbs)

    with pytest.raises(RowError) as caught:
        sync(dbs, definition("t", "n", id_field="id", batch_size=4, transform=failing_on(23)))

    assert caught.value.result is not None
    assert caught.value.result.transform_workers == count
    message = str(caught.value)
    assert "n=230" in message and "id=23" in message and "cannot handle v23" in message
    assert caught.value.row == {"id": 23, "n": 230, "v": "v23"}
    assert position(dbs) == ("200", "20")  # every batch before the row's, none after
    assert dbs.query_analytics("SELECT count(*), max(id) FROM t") == [(20, 20)]


def test_a_worker_that_dies_has_its_batch_done_by_the_runner(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch, debug_log: pytest.LogCaptureFixture
) -> None:
    _workers(monkeypatch, 2)
    _numbered(dbs)
    runner = os.getpid()

    def dies_in_a_worker(row: dict[str, Any]) -> dict[str, Any]:
        if row["id"] == 17 and os.getpid() != runner:
            os.kill(os.getpid(), signal.SIGKILL)
        return row

    result = sync(
        dbs, definition("t", "n", id_field="id", batch_size=4, transform=dies_in_a_worker)
    )

    assert result.transform_workers == 2
    assert (result.counts.read, result.counts.created) == (40, 40)
    assert dbs.query_analytics("SELECT count(*), sum(id) FROM t") == [(40, sum(range(41)))]
    assert [m for m in debug_log.messages if "transform workers off" in m and "ended" in m]


def test_a_duplicate_key_from_a_worker_batch_falls_back_to_staging(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch, debug_log: pytest.LogCaptureFixture
) -> None:
    def to_key(row: dict[str, Any]) -> dict[str, Any]:
        return {"k": row["id"] // 2 if row["id"] > 6 else row["id"] + 100, "v": row["v"]}

    result = _sync_keyed(dbs, monkeypatch, 12, to_key)

    assert result.transform_workers == 2
    rows = dbs.query_analytics("SELECT k, v FROM u WHERE k < 100 ORDER BY k")
    assert rows == [(3, "v7"), (4, "v9"), (5, "v11"), (6, "v12")]  # the later row wins
    assert [m for m in debug_log.messages if "fast path off" in m and "duplicate key" in m]


def test_a_definition_sets_its_own_worker_count_over_the_environment(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    _workers(monkeypatch, 3)
    _numbered(dbs)
    runner = os.getpid()
    pids: set[int] = set()

    def stateful(row: dict[str, Any]) -> dict[str, Any]:
        pids.add(os.getpid())  # state in the runner: only seen whole without workers
        return row

    export = definition("t", "n", id_field="id", batch_size=4, transform=stateful)
    assert sync(dbs, export.model_copy(update={"transform_workers": 0})).transform_workers == 0
    assert pids == {runner}
    assert dbs.query_analytics("SELECT count(*) FROM t") == [(40,)]
    _workers(monkeypatch, 0)
    dbs.query_analytics("TRUNCATE t; DELETE FROM tablesync.positions")
    assert sync(dbs, export.model_copy(update={"transform_workers": 2})).transform_workers == 2
    assert dbs.query_analytics("SELECT count(*) FROM t") == [(40,)]


def test_the_worker_count_setting() -> None:
    def count(environ: dict[str, str], configured: int | None = None) -> int:
        variable = RunSettings.from_env(environ).transform_workers
        return worker_count(configured=configured, variable=variable)

    assert count({WORKERS_VARIABLE: "3"}) == 3
    assert count({WORKERS_VARIABLE: "0"}) == 0
    assert count({}) == min(usable_cpus() + 1, 8)
    assert count({WORKERS_VARIABLE: "3"}, configured=0) == 0
    # Checked with every run-time variable before any run, whatever a definition says.
    for bad in ("-1", "two", "1.5"):
        with pytest.raises(ConfigurationError, match=WORKERS_VARIABLE):
            RunSettings.from_env({WORKERS_VARIABLE: bad})


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "50000 100000\n"}, 0.5),  # half a core: one worker's worth
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
        ({}, None),
    ],
)
def test_a_container_cpu_limit_caps_the_default_worker_count(
    tmp_path: Path, files: dict[str, str], quota: float | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_quota(tmp_path) == quota
    cpus = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path) == (min(cpus, math.ceil(quota)) if quota else cpus)
    if quota == 0.5:
        assert usable_cpus(tmp_path) == 1


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def test_workers_die_with_a_killed_runner(dbs: TestDatabases, tmp_path: Path) -> None:
    dbs.query_core("CREATE TABLE t (id int PRIMARY KEY, n int, v text)")
    dbs.query_core("INSERT INTO t SELECT g, g * 10, 'v' || g FROM generate_series(1, 40) g")
    dbs.query_analytics("CREATE TABLE analytics_raw.t (id int PRIMARY KEY, n int, v text)")
    mark = tmp_path / "stalled"  # tests/definitions/stall_in_worker.py writes it
    env = {**fault_env(dbs, tmp_path, "stall_in_worker"), WORKERS_VARIABLE: "2"}
    proc = start_cli([JOB, "Slow"], env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not mark.exists() or not mark.read_text():
            assert proc.poll() is None, "the run ended before its worker stalled"
            assert time.monotonic() < deadline, "no worker reached the stalling row"
            time.sleep(0.05)
        worker = int(mark.read_text())
        assert worker != proc.pid  # the row was being transformed in a worker
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10  # the worker sleeps 120 s: only its death ends it
        while not _gone(worker):
            assert time.monotonic() < deadline, "a worker outlived its killed runner"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'tablesync:%%'"
    # The worker's core connection went with it; its server process ends once it sees
    # the socket closed, which a loaded machine can take a moment to get to.
    deadline = time.monotonic() + 10
    while dbs.query_core(sessions) != [(0,)]:
        assert time.monotonic() < deadline, "a killed worker's core session stayed"
        time.sleep(0.05)


def test_after_a_worker_batch_is_refused_the_workers_start_again_for_staging(
    dbs: TestDatabases, monkeypatch: pytest.MonkeyPatch, debug_log: pytest.LogCaptureFixture
) -> None:
    # Workers already busy on later batches encode them for the fast path:
    # leaving it must drop those and start the workers again for staging.
    def to_key(row: dict[str, Any]) -> dict[str, Any]:
        return {"k": 5 if row["id"] in (4, 5) else row["id"], "v": row["v"]}  # batch 2 refused

    result = _sync_keyed(dbs, monkeypatch, 15, to_key)

    assert result.transform_workers == 2
    assert counts_of(result) == (15, 14, 0, 1)
    paths = [m for m in debug_log.messages if "copied straight in" in m or "fast path off" in m]
    assert len(paths) == 2 and "fast path off" in paths[1]  # batch 1 straight in, then staging
