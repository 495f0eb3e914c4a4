"""Roles with real passwords on the test server, for the wrong-password and secrecy tests.

The test server trusts every local connection; members of the group
PASSWORD_GROUP are made to authenticate with scram-sha-256 instead, by one
line put at the top of the server's pg_hba.conf for the session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from dbtools import PgServer, TestDatabases
from psycopg import sql

PASSWORD_GROUP = "tablesync_test_password_roles"
HBA_LINE = f"host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256  # tablesync tests\n"


def _reload(base_url: str) -> None:
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="session")
def password_auth(pg_server: PgServer) -> Iterator[None]:
    """Members of PASSWORD_GROUP need their password on this server for the session."""
    with psycopg.connect(pg_server.base_url, autocommit=True) as conn:
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])  # type: ignore[index]
        exists = conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_GROUP,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(PASSWORD_GROUP)))
    original = hba.read_text()
    if HBA_LINE not in original:
        hba.write_text(HBA_LINE + original)
        _reload(pg_server.base_url)
    try:
        yield
    finally:
        hba.write_text(hba.read_text().replace(HBA_LINE, ""))
        _reload(pg_server.base_url)


@dataclass
class Role:
    """A login role with a password, and URLs that log in as it."""

    name: str
    password: str
    dbs: TestDatabases

    def url(self, base: str, password: str | None = None) -> str:
        parts = urlsplit(base)
        secret = quote(self.password if password is None else password, safe="")
        netloc = f"{self.name}:{secret}@{parts.hostname}:{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def role(dbs: TestDatabases, password_auth: None) -> Iterator[Role]:
    """A fresh login role with a unique, recognisable password; dropped afterwards."""
    name = f"ts_role_{uuid.uuid4().hex[:8]}"
    password = f"Pw-{uuid.uuid4().hex}-end"
    ident = sql.Identifier(name)
    with psycopg.connect(dbs.core_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                ident, sql.Literal(password), sql.Identifier(PASSWORD_GROUP)
            )
        )
    try:
        yield Role(name=name, password=password, dbs=dbs)
    finally:
        for url in (dbs.core_url, dbs.analytics_url):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                    (name,),
                )
                conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        with psycopg.connect(dbs.core_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(ident))
