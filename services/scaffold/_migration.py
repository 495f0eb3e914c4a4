"""A dbmate migration: its text from statements, and the file it is written to."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from services.base import ConfigurationError

_VERSION_FORMAT = "%Y%m%d%H%M%S"  # dbmate's own: `dbmate new` names files so


@dataclass(frozen=True)
class Migration:
    """What one migration does and undoes, as statements or ``--`` comment lines."""

    slug: str  # the file name's words
    header: list[str]  # comment lines that say where it came from
    up: list[sql.Composable | str]
    down: list[sql.Composable | str]

    def text(self, conn: psycopg.Connection[Any]) -> str:
        """The file's text; statements rendered for ``conn``'s server (its quoting rules)."""

        def lines(items: list[sql.Composable | str]) -> list[str]:
            return [i if isinstance(i, str) else i.as_string(conn) for i in items]

        body = ["-- migrate:up", *self.header, *lines(self.up), "", "-- migrate:down"]
        return "\n".join([*body, *lines(self.down)]) + "\n"


def slug_of(words: list[str]) -> str:
    """A file-name-safe run of ``words`` (``scaffold_orders_line_items``), at most 60 chars."""
    joined = re.sub(r"[^a-z0-9]+", "_", "_".join(words).lower()).strip("_")
    return joined[:60].rstrip("_") or "scaffold"


def write_migration(text: str, slug: str, directory: Path, *, now: dt.datetime) -> Path:
    """Write ``text`` as ``<version>_<slug>.sql`` in ``directory``: the version is ``now`` in
    UTC, moved past every version already there so dbmate applies it after them."""
    if not directory.is_dir():
        raise ConfigurationError(f"--migrations-dir {directory} is not a directory")
    taken = [
        int(m.group(1))
        for p in directory.glob("*.sql")
        if (m := re.match(r"(\d{14})_", p.name)) is not None
    ]
    version = int(now.astimezone(dt.UTC).strftime(_VERSION_FORMAT))
    if taken and version <= max(taken):
        version = _next_second(max(taken))
    path = directory / f"{version}_{slug}.sql"
    with path.open("x", encoding="utf-8") as out:  # never overwrite a migration
        out.write(text)
    return path


def _next_second(version: int) -> int:
    moment = dt.datetime.strptime(str(version), _VERSION_FORMAT)
    return int((moment + dt.timedelta(seconds=1)).strftime(_VERSION_FORMAT))
