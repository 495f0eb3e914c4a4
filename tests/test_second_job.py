"""A second job is a folder with a config and a handler: the example of docs/definitions.md
("Adding a job"), added to a copy of the repo, runs through the real command line beside
export-to-pg."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from dbtools import REPO_ROOT, TestDatabases, run_cli

from tools.testdb.seed_core import seed

# What a job needs from the repo: the command line, the engine, the jobs, the migrations.
PARTS = ("run_job.py", "services", "jobs", "db/migrations")
JOB_FILE = re.compile(r"```python\n# (jobs/mirror_import/\w+\.py)\n(.*?)```", re.DOTALL)


def documented_job_files() -> dict[str, str]:
    """path -> text of the files "Adding a job" (docs/definitions.md) shows."""
    found = dict(JOB_FILE.findall((REPO_ROOT / "docs" / "definitions.md").read_text()))
    assert sorted(found) == ["jobs/mirror_import/config.py", "jobs/mirror_import/handler.py"]
    return found


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the repo's parts with the documented second job added, and nothing else."""
    root = tmp_path / "repo"
    for part in PARTS:
        source, target = REPO_ROOT / part, root / part
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    for path, text in documented_job_files().items():
        (root / path).parent.mkdir(exist_ok=True)
        (root / path).write_text(text)
    return root


def test_help_lists_both_jobs_and_the_new_jobs_definitions(copy: Path) -> None:
    code, out, err = run_cli(["--help"], cwd=copy, repo=copy)
    assert (code, err) == (0, "")
    assert "export-to-pg" in out and "mirror-import" in out
    code, out, err = run_cli(["mirror-import", "--help"], cwd=copy, repo=copy)
    assert (code, err) == (0, "")
    assert "ImportJob rows into analytics, as they are." in out
    assert "ImportJob    public.ImportJob -> analytics_raw.import_job" in out
    assert "mirror-import" not in run_cli(["--help"])[1]  # the repo itself is untouched


def test_the_second_job_runs_with_positions_and_records_of_its_own(
    copy: Path, dbs: TestDatabases, env: dict[str, str]
) -> None:
    seed(dbs.core_url, stat_events=0, import_jobs=40)
    finished = dbs.query_core('SELECT count(*) FROM "ImportJob" WHERE "finishedAt" IS NOT NULL')
    code, out, err = run_cli(["mirror-import", "ImportJob"], env, cwd=copy, repo=copy)
    assert code == 0, out + err
    assert out.startswith(f"ImportJob: succeeded — read {finished[0][0]}, ")
    assert dbs.query_analytics("SELECT count(*) FROM analytics_raw.import_job") == finished
    assert dbs.query_analytics("SELECT job, definition, status FROM tablesync.runs") == [
        ("mirror-import", "ImportJob", "succeeded")
    ]
    assert dbs.query_analytics("SELECT job FROM tablesync.positions") == [("mirror-import",)]
    code, out, err = run_cli(["mirror-import", "--status", "--json"], env, cwd=copy, repo=copy)
    assert code == 0, out + err
    (status,) = json.loads(out)
    assert (status["job"], status["pending_rows"]) == ("mirror-import", 0)
