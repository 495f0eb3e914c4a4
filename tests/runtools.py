"""Helpers for the run-record and reporting tests: the CLI on tests/definitions/on_cue.py
(an ``Events`` definition whose transform can fail or block on cue) with URLs that
carry a password, and the run records as dicts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from dbtools import PgServer, TestDatabases, unique_db_name
from faultkit import create_events, fault_env
from psycopg import sql

PASSWORD = "Run-r3cord-S3cret"


@contextmanager
def login_role_with_password(server: PgServer) -> Iterator[str]:
    """A superuser login role with PASSWORD, dropped afterwards, so URLs carry a secret."""
    role = unique_db_name("role")
    _admin(
        server,
        sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(PASSWORD)
        ),
    )
    try:
        yield role
    finally:
        _admin(server, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _admin(server: PgServer, statement: sql.Composed) -> None:
    with psycopg.connect(server.base_url, autocommit=True) as conn:
        conn.execute(statement)


def url_with_password(url: str, role: str) -> str:
    """``url`` logging in as ``role`` with PASSWORD."""
    parts = urlsplit(url)
    netloc = f"{role}:{PASSWORD}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def secret_env(dbs: TestDatabases, workdir: Path, role: str) -> dict[str, str]:
    """The CLI's environment for tests/definitions/on_cue.py's Events (tables created),
    logging in with a password."""
    create_events(dbs)
    env = fault_env(dbs, workdir, "on_cue")
    env["DATABASE_URL_CORE"] = url_with_password(dbs.core_url, role)
    env["DATABASE_URL_ANALYTICS"] = url_with_password(dbs.analytics_url, role)
    return env


def runs(dbs: TestDatabases) -> list[dict[str, Any]]:
    """Every run record, oldest first, as dicts."""
    with dbs.analytics().cursor() as cur:
        cur.execute("SELECT * FROM tablesync.runs ORDER BY id")
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def counts(record: dict[str, Any]) -> tuple[int, ...]:
    """(read, created, updated, skipped, errors) of a run record."""
    keys = ("rows_read", "rows_created", "rows_updated", "rows_skipped", "rows_errors")
    return tuple(record[k] for k in keys)
