"""Security: the password of the database role never reaches any channel; core is
read through read-only sessions of a role that may only SELECT; hostile
identifiers are quoted, never spliced into SQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from authkit import Role, password_auth, role  # noqa: F401, F811 - fixtures
from dbtools import TestDatabases, run_cli
from definitions.hostile import HOSTILE
from faultkit import JOB, create_events, events_in, fault_env, insert_one_by_one
from psycopg import sql
from slack_server import serve_slack

from services.base.db import _connection_kwargs
from services.base.redact import redact, register_from_environment


def _grant(dbs: TestDatabases, role: Role) -> None:  # noqa: F811
    """SELECT on the source only in core; what the runner needs in analytics."""
    who = sql.Identifier(role.name)
    dbs.query_core(sql.SQL("GRANT SELECT ON events TO {}").format(who))
    for statement in (
        "GRANT USAGE ON SCHEMA tablesync, analytics_raw TO {}",
        "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA tablesync, analytics_raw TO {}",
        "GRANT SELECT ON public.schema_migrations TO {}",
        # A new backfill plan replaces the last one (services/store/chunks.py).
        "GRANT DELETE ON tablesync.backfills, tablesync.backfill_chunks TO {}",
    ):
        dbs.query_analytics(sql.SQL(statement).format(who))


@pytest.fixture
def env(dbs: TestDatabases, tmp_path: Path, role: Role) -> dict[str, str]:  # noqa: F811
    """The CLI on tests/definitions/leaky.py, logged in as a role with a password."""
    create_events(dbs)
    insert_one_by_one(dbs, 6)
    _grant(dbs, role)
    env = fault_env(dbs, tmp_path, "leaky")
    env["DATABASE_URL_CORE"] = role.url(dbs.core_url)
    env["DATABASE_URL_ANALYTICS"] = role.url(dbs.analytics_url)
    return env


def test_a_select_only_role_is_enough_to_sync_core(
    env: dict[str, str], tmp_path: Path, dbs: TestDatabases
) -> None:
    result = run_cli([JOB, "Plain"], env, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert events_in(dbs, "analytics") == events_in(dbs, "core")


def test_core_sessions_cannot_write_even_if_they_tried(dbs: TestDatabases, role: Role) -> None:  # noqa: F811
    create_events(dbs)
    _grant(dbs, role)
    url = role.url(dbs.core_url)
    with psycopg.connect(url, autocommit=True, **_connection_kwargs("core", True)) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO events (payload) VALUES ('x')")
        # Even with the session's read-only default switched off, the role may not.
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO events (payload) VALUES ('x')")
    assert dbs.query_core("SELECT count(*) FROM events") == [(0,)]


def test_the_password_never_reaches_any_channel(
    env: dict[str, str],
    tmp_path: Path,
    dbs: TestDatabases,
    role: Role,  # noqa: F811
) -> None:
    with serve_slack() as slack:
        env.update(LOG_FORMAT="json", SLACK_WEBHOOK_URL=slack.webhook_url)
        failed = run_cli([JOB, "Leaky", "--verbose"], env, cwd=tmp_path)
        as_json = run_cli([JOB, "Leaky", "--json"], env, cwd=tmp_path)
        requests = list(slack.requests)
    assert failed.code == 1 and as_json.code == 1
    assert len(failed.error_lines) == 1
    assert "cannot reach" in failed.error_lines[0]  # the error is there, masked
    assert requests, "Slack was not told about the failure"
    runs = dbs.query_analytics("SELECT row_to_json(r)::text FROM tablesync.runs r")
    failure_files = [p.read_text() for p in (tmp_path / "failures").rglob("*.json")]
    assert failure_files
    channels = {
        "stdout": failed.stdout + as_json.stdout,
        "stderr (json logs, traceback)": failed.stderr + as_json.stderr,
        "tablesync.runs": json.dumps(runs),
        "failure files": "".join(failure_files),
        "slack": "".join(r.body for r in requests),
    }
    for channel, text in channels.items():
        assert text, f"{channel} is empty: nothing was checked"
        assert role.password not in text, f"the password leaked through {channel}"
    assert "***" in failed.error_lines[0]


def test_hostile_identifiers_are_quoted_not_spliced(dbs: TestDatabases, tmp_path: Path) -> None:
    ident = {k: sql.Identifier(v) for k, v in HOSTILE.items()}
    for query, side in ((dbs.query_core, "source"), (dbs.query_analytics, "dest")):
        query("CREATE TABLE canary (n int)")
        query("INSERT INTO canary VALUES (1)")
        query(
            sql.SQL("CREATE TABLE {} ({} bigint PRIMARY KEY, {} timestamptz, v text)").format(
                ident[side], ident["id"], ident["cursor"]
            )
        )
    dbs.query_core(
        sql.SQL("INSERT INTO {} SELECT g, now(), 'v' || g FROM generate_series(1, 5) g").format(
            ident["source"]
        )
    )
    env = fault_env(dbs, tmp_path, "hostile")
    result = run_cli([JOB, "Hostile"], env, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert dbs.query_core("SELECT n FROM canary") == [(1,)]
    assert dbs.query_analytics("SELECT n FROM canary") == [(1,)]
    copied = dbs.query_analytics(sql.SQL("SELECT v FROM {} ORDER BY 1").format(ident["dest"]))
    assert [r[0] for r in copied] == [f"v{n}" for n in range(1, 6)]


@pytest.mark.parametrize(
    ("variable", "value", "secret"),
    [
        ("DATABASE_URL_CORE", "postgresql://u:p%40ss-word1@h/db", "p@ss-word1"),
        ("DATABASE_URL_CORE", "postgresql://u:p%40ss-word2@h/db", "p%40ss-word2"),
        ("DATABASE_URL_ANALYTICS", "host=h user=u password='kv secret3' dbname=d", "kv secret3"),
        ("PGPASSWORD", "libpq-secret4", "libpq-secret4"),
        ("DATABASE_URL_CORE", "postgresql://u@h/db?password=q%40uery-secret5", "q@uery-secret5"),
        ("DATABASE_URL_CORE", "postgresql://u@h/db?password=q%40uery-secret6", "q%40uery-secret6"),
        ("DATABASE_URL_CORE", r"host=h password='esc\'aped secret7'", r"esc\'aped secret7"),
        ("DATABASE_URL_CORE", r"host=h password='esc\'aped secret8'", "esc'aped secret8"),
        # A string libpq refuses is masked whole and word by word.
        ("DATABASE_URL_CORE", "u:refused-secret9@h/db", "u:refused-secret9@h/db"),
        ("DATABASE_URL_CORE", "host=h refused-secret10", "refused-secret10"),
    ],
)
def test_every_form_of_a_configured_password_is_masked(
    variable: str, value: str, secret: str
) -> None:
    register_from_environment({variable: value})
    assert secret not in redact(f"connection to {secret} failed")
