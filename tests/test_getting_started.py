"""The README's "Your first table" with the real tools: the embedded PostgreSQL it starts
gives URLs dbmate accepts, dbmate needs `sslmode=disable` on a server without TLS (as
docs/migrations.md says), and `.env.example` keeps dbmate from leaving db/schema.sql."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from dbtools import MIGRATIONS_DIR, REPO_ROOT, dbmate_path, query

from tools.testdb import embedded_pg


def dbmate(cwd: Path, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """dbmate as the docs run it (`--env DATABASE_URL_ANALYTICS`), from ``cwd``, reading the
    ``.env`` there; PostgreSQL's own client tools (pg_dump) first on the PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBMATE_")}
    env["PATH"] = f"{embedded_pg._bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    if url is not None:
        env["DATABASE_URL_ANALYTICS"] = url
    command = [dbmate_path(), "--env", "DATABASE_URL_ANALYTICS"]
    command += ["--migrations-dir", str(MIGRATIONS_DIR), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def dbmate_lines_of_env_example() -> list[str]:
    lines = (REPO_ROOT / ".env.example").read_text().splitlines()
    return [line for line in lines if line.startswith("DBMATE_")]


def test_env_example_keeps_dbmate_from_writing_db_schema_sql(
    empty_database: str, tmp_path: Path
) -> None:
    assert dbmate_lines_of_env_example(), ".env.example sets no DBMATE_ variable"
    dump = tmp_path / "db" / "schema.sql"
    # Without .env.example's settings dbmate dumps the schema: the check below means something.
    (tmp_path / ".env").write_text(f"DATABASE_URL_ANALYTICS={empty_database}\n")
    written = dbmate(tmp_path, "up")
    assert written.returncode == 0, written.stderr
    assert dump.exists(), f"dbmate wrote no schema dump:\n{written.stdout}{written.stderr}"
    dump.unlink()

    lines = [f"DATABASE_URL_ANALYTICS={empty_database}", *dbmate_lines_of_env_example()]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    for action in ("rollback", "up"):
        result = dbmate(tmp_path, action)
        assert result.returncode == 0, result.stderr
        assert not dump.exists(), f"dbmate {action} wrote {dump}"


def without_query(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query=""))


def test_dbmate_needs_sslmode_disable_where_the_server_has_no_tls(
    empty_database: str, tmp_path: Path
) -> None:
    assert "sslmode=disable" in empty_database
    with psycopg.connect(empty_database) as conn:
        server_has_tls = conn.execute("SHOW ssl").fetchone() == ("on",)
    bare = dbmate(tmp_path, "status", url=without_query(empty_database))
    if server_has_tls:  # a TEST_DATABASE_URL server with TLS: the URL needs nothing
        assert bare.returncode == 0, bare.stderr
    else:
        assert bare.returncode != 0
        assert "pq: SSL is not enabled on the server" in bare.stderr
    # tablesync's own driver (libpq) connects either way, as docs/migrations.md says.
    with psycopg.connect(without_query(empty_database)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert dbmate(tmp_path, "status", url=empty_database).returncode == 0


def embedded(*args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "tools.testdb.embedded_pg", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"tools.testdb.embedded_pg {' '.join(args)}: {result.stderr}"
    return result.stdout.split()


def test_the_embedded_server_of_the_first_table_step() -> None:
    # A directory of its own, not pytest's tmp_path: the server runs as another user when
    # we are root, and pytest's numbered directories are private and pruned by other runs.
    data_dir = tempfile.mkdtemp(prefix="ts-first-table-")
    server = embedded_pg.EmbeddedPostgres(Path(data_dir))
    try:
        urls = embedded("start", "--dir", data_dir, "--database", "analytics", "--database", "core")
        assert [urlsplit(u).path for u in urls] == ["/analytics", "/core"]
        assert all(u.endswith("?sslmode=disable") for u in urls)
        query(urls[0], "CREATE TABLE kept (id int)")
        # Started again, it keeps the databases it has and what they hold.
        assert embedded("start", "--dir", data_dir, "--database", "analytics") == urls[:1]
        assert query(urls[0], "SELECT count(*) FROM kept") == [(0,)]
        assert embedded("url", "--dir", data_dir, "--database", "core") == urls[1:]
        pid = server.postmaster_pid()
        assert pid is not None
    finally:
        embedded("stop", "--dir", data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
    assert not embedded_pg._pid_alive(pid), f"postmaster {pid} still runs after stop"
