"""``python run_job.py scaffold``: parse options, open the databases, hand off to
services.scaffold, write or print what it made."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from services.base import ConfigurationError, ExportDefinition, UnknownDefinitionError, did_you_mean
from services.store import MIGRATIONS_DIR

Connection = Any  # psycopg.Connection[Any], imported only when a command runs
DefinitionsOf = Callable[[str], dict[str, ExportDefinition]]
_APPLY = "apply it: dbmate --env DATABASE_URL_ANALYTICS up"


def _cursors(values: tuple[str, ...]) -> dict[str | None, str]:
    """``--cursor COLUMN`` (every table) and ``--cursor TABLE=COLUMN``."""
    chosen: dict[str | None, str] = {}
    for value in values:
        table, equals, column = value.rpartition("=")
        chosen[table if equals else None] = column
    return chosen


def _pick(job: str, definitions: dict[str, ExportDefinition], names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in definitions]
    if unknown:
        problems = [
            f"unknown definition {n!r} for {job}{did_you_mean(n, definitions)}" for n in unknown
        ]
        raise UnknownDefinitionError("; ".join(problems), problems=problems)
    return list(dict.fromkeys(names))


HELP = """Write the dbmate migration that creates destination tables like core's.

\b
  scaffold orders line_items        tables of core's public schema
  scaffold 'sales.*'                every table of schema sales
  scaffold --alter Orders           the columns core gained since, for definition Orders

Reads core's catalog and writes one migration into db/migrations creating each table in
analytics_raw (or --dest-schema): core's column names and types, NOT NULL, the primary key;
no defaults, sequences, foreign keys or triggers; a partitioned table becomes a plain one.
Enums, domains, composites and ranges the tables use are made in analytics with core's
definitions, in core's schema under core's name; one analytics already has must have the
same definition (else exit 2). Then it prints the DEFINITIONS entries to paste into
config.py. The cursor is the timestamp column named like updated_at, updatedAt,
last_update or modified; give another (or one where there is none) with --cursor.
Names are matched exactly. Exit 2 when something stands in the way; nothing is written.
"""


def scaffold_command(definitions_of: DefinitionsOf) -> click.Command:
    """The scaffold command; ``definitions_of(job)`` gives a job's definitions (--alter)."""

    @click.command(name="scaffold", help=HELP)
    @click.argument("names", nargs=-1, metavar="TABLE...")
    @click.option(
        "--alter",
        is_flag=True,
        help="NAMES are definitions: write the migration adding the columns core gained.",
    )
    @click.option("--job", default="export-to-pg", show_default=True, help="With --alter.")
    @click.option(
        "--dest-schema", default="analytics_raw", show_default=True, help="Analytics schema."
    )
    @click.option(
        "--cursor",
        "cursors",
        multiple=True,
        metavar="[TABLE=]COLUMN",
        help="The cursor column of TABLE (or of every table); repeatable.",
    )
    @click.option(
        "--migrations-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=MIGRATIONS_DIR,
        help="Where to write the migration.  [default: db/migrations]",
    )
    @click.option("--print", "print_only", is_flag=True, help="Print the migration; write nothing.")
    def command(
        names: tuple[str, ...],
        alter: bool,
        job: str,
        dest_schema: str,
        cursors: tuple[str, ...],
        migrations_dir: Path,
        print_only: bool,
    ) -> None:
        if not names:
            raise ConfigurationError(
                "name at least one table (orders, sales.orders, 'sales.*'), or definitions"
                " with --alter"
            )
        if alter:
            chosen = definitions_of(job)
            picked = {n: chosen[n] for n in _pick(job, chosen, list(names))}
            _alter(job, picked, migrations_dir, print_only)
        else:
            _scaffold(list(names), dest_schema, _cursors(cursors), migrations_dir, print_only)

    return command


@contextlib.contextmanager
def _databases() -> Iterator[tuple[Connection, Connection]]:
    """A connection to core (read-only, as every core session) and one to analytics, which
    scaffold only reads: what it makes is a file for dbmate."""
    from services.cli.invocation import Invocation

    dbs = Invocation.read().databases(max_size=1)
    with dbs, dbs.core.connection() as core, dbs.analytics.connection() as analytics:
        yield core, analytics


def _scaffold(
    names: list[str],
    dest_schema: str,
    cursors: dict[str | None, str],
    migrations_dir: Path,
    print_only: bool,
) -> None:
    from services.scaffold import ScaffoldRequest, scaffold_tables

    request = ScaffoldRequest(tables=names, dest_schema=dest_schema, cursors=cursors)
    with _databases() as (core, analytics):
        made = scaffold_tables(core, analytics, request)
        text = made.migration.text(analytics) if made.migration else ""
        warnings = [w for e in made.entries for w in e.warnings(analytics)]
    if made.skipped:
        click.echo(f"left out, analytics has them: {', '.join(made.skipped)}", err=True)
    if made.migration is None:
        every = " ".join(names)
        click.echo(f"nothing to scaffold: analytics has a destination for every table of {every}")
        return
    summary = f"{made.tables} table(s), {made.types} type(s) to create"
    _emit(text, made.migration.slug, migrations_dir, print_only=print_only, summary=summary)
    click.echo("\npaste into DEFINITIONS in jobs/export_to_pg/config.py:", err=print_only)
    for entry in made.entries:
        click.echo(entry.text(), err=print_only)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def _emit(text: str, slug: str, directory: Path, *, print_only: bool, summary: str) -> None:
    """The migration on stdout with --print, alone there (`> file.sql` works: what else is
    said goes to stderr), else written to ``directory`` and said where."""
    from services.scaffold import write_migration

    if print_only:
        click.echo(text, nl=False)
        return
    path = write_migration(text, slug, directory, now=dt.datetime.now(dt.UTC))
    with contextlib.suppress(ValueError):  # shown from the working directory when inside it
        path = path.relative_to(Path.cwd())
    click.echo(f"wrote {path}" + (f": {summary}" if summary else ""))
    click.echo(_APPLY)


def _alter(
    job: str, definitions: dict[str, ExportDefinition], migrations_dir: Path, print_only: bool
) -> None:
    from services.scaffold import alter_definitions

    with _databases() as (core, analytics):
        made = alter_definitions(core, analytics, definitions)
        text = made.migration.text(analytics) if made.migration else None
    if made.migration is None or text is None:
        click.echo(f"nothing to add: {', '.join(definitions)} have every column and type core has")
        return
    _emit(text, made.migration.slug, migrations_dir, print_only=print_only, summary="")
    for name, columns in made.added.items():
        click.echo(
            f"{name}: adds {', '.join(columns)}; rows synced before hold NULL there until read"
            f" again: `python run_job.py {job} --full-refresh {name}` after `dbmate up`",
            err=print_only,
        )
    for name in made.grown:
        click.echo(f"{name}: gains the enum labels core added", err=print_only)
    for name in made.unlike:
        click.echo(
            f"warning: type {name} differs between core and analytics in more than added enum"
            " labels: the migration says how, commented out; change analytics's by hand",
            err=True,
        )
    for name, columns in made.retyped.items():
        click.echo(
            f"warning: {name}: the type of {', '.join(columns)} changed in core; the"
            " migration holds the ALTER ... TYPE it would take, commented out",
            err=True,
        )
