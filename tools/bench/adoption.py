"""Time an adoption: a 15-table core schema taken from zero to a synced, verified analytics
with `scaffold`, as a user of a fresh clone would, command by command.

    python -m tools.bench.adoption

Sets up (untimed) a throwaway server with core holding tools/testdb/sample_rental.sql (an enum, a
domain, arrays, tsvector, bytea, composite keys, a partitioned table; ~45,000 rows) and an
empty analytics database, and a copy of the project with the demo set aside as the README
says (its two migrations and definitions removed). Then times each step a user takes:
scaffold (first without --cursor, which the partitioned payment table needs, as a user
would find out), dbmate up, pasting the printed entries into config.py, the first sync of
every definition, and --verify of every one; then compares every table row by row as
PostgreSQL's text. Prints each command with its wall time, and the total. Exit 1 when a
step fails or a table differs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from tools.testdb.embedded_pg import EmbeddedPostgres

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA = REPO_ROOT / "tools" / "testdb" / "sample_rental.sql"
PROJECT_FILES = ("run_job.py", "jobs", "services", "db/migrations", "pyproject.toml")
DEMO_MIGRATIONS = ("20261123000002_analytics_raw_stat_event.sql",
                   "20261123000003_analytics_raw_import_job.sql")  # fmt: skip
EMPTY_CONFIG = '''"""The definitions of the export-to-pg job."""

from services import ExportDefinition, build_definitions

DEFINITIONS: dict[str, ExportDefinition] = build_definitions(
    {
    }
)
'''
PASTE_AT = "paste into DEFINITIONS in jobs/export_to_pg/config.py:\n"


def _project_copy(into: Path) -> Path:
    """The project as a user's clone would have it once the demo is set aside."""
    for name in PROJECT_FILES:
        source, target = REPO_ROOT / name, into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    for name in DEMO_MIGRATIONS:
        (into / "db" / "migrations" / name).unlink()
    (into / "jobs" / "export_to_pg" / "config.py").write_text(EMPTY_CONFIG)
    return into


class AdoptionFailed(RuntimeError):
    """A step of the adoption ended otherwise than a user expects."""


class Steps:
    """The commands run in the project copy, each timed and printed."""

    def __init__(self, project: Path, env: dict[str, str]) -> None:
        self.project, self.env = project, env
        self.timings: list[tuple[str, float, int]] = []

    def run(self, shown: str, command: list[str], *, expect: int = 0) -> str:
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=self.project, env=self.env, capture_output=True, text=True, timeout=600
        )
        elapsed = time.perf_counter() - started
        self.timings.append((shown, elapsed, done.returncode))
        print(f"$ {shown}\n  exit {done.returncode} in {elapsed:.2f} s")
        if done.returncode != expect:
            raise AdoptionFailed(f"{shown}: exit {done.returncode}\n{done.stdout}{done.stderr}")
        if expect != 0:  # what the user read before the next command
            print("".join(f"  | {line}\n" for line in done.stderr.splitlines()), end="")
        return done.stdout + done.stderr

    def paste(self, printed: str) -> None:
        started = time.perf_counter()
        entries = printed.split(PASTE_AT, 1)[1].split("\nwarning:", 1)[0].rstrip("\n") + "\n"
        config = self.project / "jobs" / "export_to_pg" / "config.py"
        config.write_text(config.read_text().replace("    {\n    }", "    {\n" + entries + "    }"))
        self.timings.append(("paste the entries into config.py", time.perf_counter() - started, 0))
        count = entries.count('"source":')
        print(f"$ (paste the {count} entries into config.py)")


def _tables(core_url: str) -> list[tuple[str, list[str]]]:
    """(table, its primary key's columns) of every table of schema rental."""
    with psycopg.connect(core_url) as conn:
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT c.relname, array_agg(a.attname::text ORDER BY k.ord)"
            " FROM pg_class c JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum"
            " WHERE c.relnamespace = 'rental'::regnamespace AND NOT c.relispartition"
            " GROUP BY c.relname ORDER BY 1"
        )]  # fmt: skip


def _differences(core_url: str, analytics_url: str) -> list[str]:
    """The tables whose rows differ between core and analytics, compared as text."""
    differ = []
    tables = _tables(core_url)
    with psycopg.connect(core_url) as core, psycopg.connect(analytics_url) as analytics:
        for table, key in tables:
            order = sql.SQL(", ").join(sql.Identifier(c) for c in key)
            rows = [
                conn.execute(
                    sql.SQL("SELECT t::text FROM {} t ORDER BY {}").format(
                        sql.Identifier(schema, table), order
                    )
                ).fetchall()
                for conn, schema in ((core, "rental"), (analytics, "analytics_raw"))
            ]
            if rows[0] != rows[1] or not rows[0]:
                differ.append(table)
    print(f"compared {len(tables)} tables row by row: {len(tables) - len(differ)} identical")
    return differ


def adopt(core_url: str, analytics_url: str, workdir: Path) -> int:
    """Load the sample schema into core (an empty database), then time every step of its
    adoption into analytics from a project copy in ``workdir``; 0 when analytics equals core."""
    with psycopg.connect(core_url, autocommit=True) as conn:
        conn.execute(SCHEMA.read_bytes())
    project = _project_copy(workdir / "project")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {
        **os.environ,
        **dict.fromkeys(("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL"), ""),
        "DATABASE_URL_CORE": core_url,
        "DATABASE_URL_ANALYTICS": analytics_url,
        "PATH": path,
    }
    steps = Steps(project, env)
    python = [sys.executable, "run_job.py"]
    steps.run("python run_job.py scaffold 'rental.*'", [*python, "scaffold", "rental.*"], expect=2)
    printed = steps.run(
        "python run_job.py scaffold 'rental.*' --cursor payment=payment_date",
        [*python, "scaffold", "rental.*", "--cursor", "payment=payment_date"],
    )
    dbmate = ["dbmate", "--env", "DATABASE_URL_ANALYTICS", "--no-dump-schema", "up"]
    steps.run(" ".join(dbmate), dbmate)
    steps.paste(printed)
    steps.run("python run_job.py export-to-pg --all", [*python, "export-to-pg", "--all"])
    steps.run(
        "python run_job.py export-to-pg --all --verify",
        [*python, "export-to-pg", "--all", "--verify"],
    )
    total = sum(t for _, t, _ in steps.timings)
    print(f"total: {total:.1f} s of commands for {len(_tables(core_url))} tables")
    return 1 if _differences(core_url, analytics_url) else 0


def main() -> int:
    from tools.testdb.embedded_pg import create_database, url_for

    workdir = Path(tempfile.mkdtemp(prefix="tablesync-adoption-"))
    server = EmbeddedPostgres(workdir / "pg")
    try:
        base_url = server.start()
        for name in ("adoption_core", "adoption_analytics"):
            create_database(base_url, name)
        urls = url_for(base_url, "adoption_core"), url_for(base_url, "adoption_analytics")
        return adopt(*urls, workdir)
    except AdoptionFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
