"""Scale-out: many runner processes, many definitions, at once; each definition synced once."""

from __future__ import annotations

from dbtools import TestDatabases, start_cli
from opstools import JOB, RunCli, runs, seeded

# Two of each single-definition runner and two --all --jobs 2 runners, all at once.
RUNNERS = [
    ["StatEvent"],
    ["StatEvent"],
    ["ImportJob"],
    ["ImportJob"],
    ["--all", "--jobs", "2"],
    ["--all", "--jobs", "2"],
]


def test_many_runners_at_once_each_definition_synced_once_the_rest_exit_75(
    dbs: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    seeded(dbs, stat_events=3_000, import_jobs=300)
    processes = [start_cli([JOB, *args], env) for args in RUNNERS]
    outputs = [p.communicate(timeout=300) for p in processes]
    outcomes = [(p.returncode, out, err) for p, (out, err) in zip(processes, outputs, strict=True)]
    for code, out, err in outcomes:
        assert code in (0, 75), out + err
        if code == 75:
            assert "holds its lock" in err and "nothing was done" in err
    exportable = {
        "StatEvent": dbs.query_core('SELECT count(*) FROM "StatEvent"')[0][0],
        "ImportJob": dbs.query_core(
            'SELECT count(*) FROM "ImportJob" WHERE "finishedAt" IS NOT NULL'
        )[0][0],
    }
    for name, total in exportable.items():
        records = runs(dbs, name)
        assert records and {r[0] for r in records} == {"succeeded"}, records
        # Every row read by exactly one runner: nobody did the same work twice.
        assert sum(int(r[1]) for r in records) == total  # type: ignore[call-overload]
    # Together the runners left analytics exactly as one run would have.
    for name in ("StatEvent", "ImportJob"):
        code, out, err = run_cli([JOB, "--verify", name], env=env)
        assert code == 0, out + err
        assert "pending" not in out
