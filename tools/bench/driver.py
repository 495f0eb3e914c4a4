"""One measured process of the benchmark: a tablesync run, or one of its references.

``python -m tools.bench.driver MODE [--table ordered|random] [--batch-size N]
[--after VALUE,ID]`` with BENCH_CORE_URL and BENCH_ANALYTICS_URL in the
environment (never DATABASE_URL_*: the bench truncates what it writes to).
``--table`` picks the source (tools/bench/data.py). Modes:

- ``psql``: the limit, ``psql -c "COPY table (...) TO STDOUT (FORMAT binary)"``
  piped into ``psql -c "COPY bench.event_raw (...) FROM STDIN (FORMAT binary)"``:
  two C clients and a pipe, no Python on the data path;
- ``raw``: the same pipe in Python, a binary ``COPY (SELECT ...) TO STDOUT``
  piped by psycopg into a binary ``COPY ... FROM STDIN``, no upsert;
- ``copy`` / ``transform``: tablesync (``process_definition``) without / with a
  Python transform, into ``bench.event_copy`` / ``bench.event_transformed``;
- ``select``: tablesync with the same transform as a ``select`` and a ``where``
  (docs/select.md), into ``bench.event_select``; with ``--verify``, each of the
  three runs ``--verify`` of its definition instead (rows checked);
- ``hand``: the hand-written reference, batches of COPY into a temp staging
  table + ``INSERT ... ON CONFLICT DO UPDATE`` + a saved position, into
  ``bench.event_hand``, starting strictly after ``--after``;
- ``bare``: a Python process that connects to both databases and runs one query;
- ``sling`` / ``dlt``: a peer's full load, or with ``--incremental`` its
  incremental run (tools/bench/peer_runs.py; installed by ``make bench-peers``).

It prints one JSON line: rows moved, seconds inside the process and its own
peak RSS (VmHWM of /proc/self/status; for ``psql`` and ``sling``, the child's).
Imports are lazy so ``bare`` and a run
that finds nothing pay only for what they use.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from tools.bench.data import BENCH_SCHEMA, COLUMNS, DESTINATIONS, SOURCES, SourceTable

JOB = "bench"
MODES = (
    "psql",
    "psql-select",
    "raw",
    "copy",
    "transform",
    "select",
    "hand",
    "bare",
    "sling",
    "dlt",
)
TABLESYNC_MODES = ("copy", "transform", "select")
# bench_event_row as SQL, evaluated by core in the read query.
BENCH_EVENT_SELECT = {
    "old_id": "id",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "type": "type",
    "source": "CASE source WHEN 'publisher' THEN 'api' ELSE source END",
    "source_id": "source_id",
    "amount": "amount",
    "host": "host",
    "user_agent": "user_agent",
    "attributes": "attributes",
    "is_bot": "is_bot",
    "is_widget": "source = 'widget'",
}
BENCH_EVENT_WHERE = "source_id IS NOT NULL"


def bench_event_row(row: dict[str, Any]) -> dict[str, Any] | None:
    """The StatEvent-style transform: skip rows without source_id, rename, derive."""
    if row["source_id"] is None:
        return None
    source = "api" if row["source"] == "publisher" else row["source"]
    return {
        "old_id": row["id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "type": row["type"],
        "source": source,
        "source_id": row["source_id"],
        "amount": row["amount"],
        "host": row["host"],
        "user_agent": row["user_agent"],
        "attributes": row["attributes"],
        "is_bot": row["is_bot"],
        "is_widget": source == "widget",
    }


def peak_rss_kib() -> int:
    """This process's own peak resident set size (VmHWM), in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def definition_name(mode: str, source: SourceTable) -> str:
    """The bench definition's name: its own position per mode and source table."""
    return f"{mode}:{source.key}"


def definition(mode: str, batch_size: int, source: SourceTable) -> Any:
    """The bench-only ExportDefinition of ``mode`` (copy, transform or select) on ``source``."""
    from services import ExportDefinition

    cursor = {"field": "updated_at", "id_field": "id"}
    if mode == "select":
        return ExportDefinition.model_validate(
            {
                "source": {"table": source.table, "cursor": cursor, "where": BENCH_EVENT_WHERE},
                "destination": {
                    "schema": BENCH_SCHEMA,
                    "table": DESTINATIONS[mode],
                    "conflict_columns": ["old_id"],
                },
                "select": BENCH_EVENT_SELECT,
                "batch_size": batch_size,
            }
        )
    return ExportDefinition.model_validate(
        {
            "source": {"table": source.table, "cursor": cursor},
            "destination": {
                "schema": BENCH_SCHEMA,
                "table": DESTINATIONS[mode],
                "conflict_columns": ["old_id" if mode == "transform" else "id"],
                # old_id is the source's id unchanged, as in StatEvent: a backfill may read it.
                **({"key_source": {"old_id": "id"}} if mode == "transform" else {}),
            },
            "transform": bench_event_row if mode == "transform" else None,
            "batch_size": batch_size,
        }
    )


def _pull_levers(environ: Mapping[str, str]) -> None:
    """Turn tuning levers off for an A/B: BENCH_PREFETCH=0, BENCH_FAST_PATH=0 (initial-load
    COPY straight into the table), BENCH_DISTINCT=1 (DISTINCT ON even when keys are unique),
    BENCH_EXACT_JSON=1 (the stdlib decoder for every jsonb, not orjson where it is exact)."""
    import services.base.exact_json
    import services.sync.route
    import services.sync.write.batch_writer
    import services.sync.write.fast_path

    if environ.get("BENCH_EXACT_JSON") == "1":
        _set_lever(services.base.exact_json, "loads", services.base.exact_json._exact_loads)
        _set_lever(services.base.exact_json, "_JSONB_LOADERS", [])
    if environ.get("BENCH_PREFETCH") == "0":  # the route reads the constant by name
        _set_lever(services.sync.route, "PREFETCH", False)
    if environ.get("BENCH_FAST_PATH") == "0":
        _set_lever(
            services.sync.write.fast_path,
            "fast_path_allowed",
            lambda plan, analytics, **_: False,
        )
    if environ.get("BENCH_DISTINCT") == "1":  # the upsert's DISTINCT ON, not staging's key text
        _set_lever(services.sync.write.batch_writer, "batch_keys_unique", lambda plan: False)


def _set_lever(module: ModuleType, name: str, value: object) -> None:
    """Replace a module global a lever turns off. A name the module no longer holds is an
    error, not a new global: after a move the lever would quietly do nothing (the prefetch
    lever did, when the route took the choice from batch_sources)."""
    if name not in vars(module):
        raise SystemExit(f"bench lever {module.__name__}.{name} no longer exists; move the lever")
    vars(module)[name] = value


def run_tablesync(
    mode: str,
    batch_size: int,
    source: SourceTable,
    core_url: str,
    analytics_url: str,
    *,
    verify_only: bool = False,
) -> int:
    """One tablesync run of the bench definition; returns the rows read (``verify_only``:
    its ``--verify`` instead, the rows checked)."""
    gc.disable()  # start-up as run_job.py does it: no collection until the job is loaded
    from services.base.db import Databases
    from services.base.run_settings import RunSettings
    from services.base.settings import DatabaseUrls
    from services.sync.run.process_definition import process_definition

    _pull_levers(os.environ)
    urls = DatabaseUrls(core=core_url, analytics=analytics_url)
    settings = RunSettings.from_env(os.environ)
    export = definition(mode, batch_size, source)
    gc.freeze()
    gc.enable()
    from services.base.errors import LockHeldError

    with Databases(urls, retry=settings.connect, timeouts=settings.timeouts) as dbs:
        name = definition_name(mode, source)
        if verify_only:
            from services.operations.verify import verify

            report = verify(dbs, JOB, name, export)
            if report.differs:
                raise SystemExit(f"verify of {name} found differences: {report.lines()}")
            return report.rows_checked
        try:
            result = process_definition(JOB, name, export, dbs, settings=settings, command="bench")
        except LockHeldError:  # a second runner that came after the last chunk was taken
            return 0
    return result.counts.read


def psql_path() -> str:
    """psql on PATH, else the one in the pgserver wheel that the embedded server runs."""
    import shutil

    found = shutil.which("psql")
    if found:
        return found
    from tools.testdb.embedded_pg import _bin_dir

    return str(_bin_dir() / "psql")


def run_psql(source: SourceTable, core_url: str, analytics_url: str) -> int:
    """The limit: psql's binary COPY out piped into psql's binary COPY in, one transaction."""
    cols = ", ".join(COLUMNS)
    out_sql = f'COPY "{source.table}" ({cols}) TO STDOUT (FORMAT binary)'
    in_sql = f"COPY {BENCH_SCHEMA}.{DESTINATIONS['psql']} ({cols}) FROM STDIN (FORMAT binary)"
    return _psql_pipe(out_sql, in_sql, core_url, analytics_url)


def run_psql_select(source: SourceTable, core_url: str, analytics_url: str) -> int:
    """The select definition's own limit: the same expressions and where in psql's binary
    COPY out, piped into the select's destination (its identity column and second unique
    index, which the raw table has not), one transaction."""
    values = ", ".join(f"{expr} AS {column}" for column, expr in BENCH_EVENT_SELECT.items())
    out_sql = (
        f'COPY (SELECT {values} FROM "{source.table}" WHERE {BENCH_EVENT_WHERE})'
        " TO STDOUT (FORMAT binary)"
    )
    in_sql = (
        f"COPY {BENCH_SCHEMA}.{DESTINATIONS['select']} ({', '.join(BENCH_EVENT_SELECT)})"
        " FROM STDIN (FORMAT binary)"
    )
    return _psql_pipe(out_sql, in_sql, core_url, analytics_url)


def _psql_pipe(out_sql: str, in_sql: str, core_url: str, analytics_url: str) -> int:
    import re
    import subprocess

    psql = psql_path()
    common = ["-X", "-v", "ON_ERROR_STOP=1"]
    reader = subprocess.Popen(
        [psql, *common, "-d", core_url, "-c", out_sql], stdout=subprocess.PIPE
    )
    assert reader.stdout is not None
    writer = subprocess.run(
        [psql, *common, "-d", analytics_url, "-c", in_sql],
        stdin=reader.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    reader.stdout.close()
    if reader.wait() != 0 or writer.returncode != 0:
        raise SystemExit(f"psql pipe failed: {writer.stderr}")
    copied = re.search(r"COPY (\d+)", writer.stdout)
    return int(copied.group(1)) if copied else 0


def run_raw(source: SourceTable, core_url: str, analytics_url: str) -> int:
    """The limit in Python: one binary COPY pipe of every source row, in one transaction."""
    import psycopg
    from psycopg import sql

    cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    out_sql = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT BINARY)").format(
        cols, sql.Identifier(source.table)
    )
    in_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(BENCH_SCHEMA, DESTINATIONS["raw"]), cols
    )
    with (
        psycopg.connect(core_url) as core,
        psycopg.connect(analytics_url) as analytics,
        core.cursor() as reader,
        analytics.cursor() as writer,
    ):
        with reader.copy(out_sql) as out, writer.copy(in_sql) as into:
            for chunk in out:
                into.write(chunk)
        return writer.rowcount


def _hand_queries(batch_size: int, source: SourceTable) -> dict[str, Any]:
    from psycopg import sql

    cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    dest = sql.Identifier(BENCH_SCHEMA, DESTINATIONS["hand"])
    others = [c for c in COLUMNS if c != "id"]
    sets = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in others
    )
    return {
        "out": sql.SQL(
            "COPY (SELECT {} FROM {} WHERE (updated_at, id) > (%s::timestamptz, %s::bigint)"
            " ORDER BY updated_at, id LIMIT {}) TO STDOUT (FORMAT BINARY)"
        ).format(cols, sql.Identifier(source.table), sql.Literal(batch_size)),
        "staging": sql.SQL("CREATE TEMP TABLE hand_staging (LIKE {}) ON COMMIT DELETE ROWS").format(
            dest
        ),
        "in": sql.SQL("COPY hand_staging ({}) FROM STDIN (FORMAT BINARY)").format(cols),
        # Aliased: ORDER BY would otherwise sort the text forms ('902' > '2060').
        "last": "SELECT updated_at::text AS last_value, id::text AS last_id FROM hand_staging"
        " ORDER BY updated_at DESC, id DESC LIMIT 1",
        "upsert": sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM hand_staging ON CONFLICT (id) DO UPDATE SET {}"
        ).format(dest, cols, cols, sets),
        "save": "UPDATE bench.hand_position SET cursor_value = %s, cursor_id = %s",
    }


def run_hand(
    batch_size: int,
    after: tuple[str, str],
    source: SourceTable,
    core_url: str,
    analytics_url: str,
) -> int:
    """The hand-written COPY-into-staging + INSERT ON CONFLICT loop; returns rows moved."""
    import psycopg

    queries = _hand_queries(batch_size, source)
    moved = 0
    with (
        psycopg.connect(core_url, autocommit=True) as core,
        psycopg.connect(analytics_url, autocommit=True) as analytics,
    ):
        analytics.execute(queries["staging"])
        while True:
            with analytics.transaction(), core.cursor() as reader, analytics.cursor() as writer:
                with reader.copy(queries["out"], after) as out, writer.copy(queries["in"]) as into:
                    for chunk in out:
                        into.write(chunk)
                if writer.rowcount <= 0:
                    return moved
                moved += writer.rowcount
                last = analytics.execute(queries["last"]).fetchone()
                assert last is not None
                analytics.execute(queries["upsert"])
                analytics.execute(queries["save"], last)
                after = (last[0], last[1])


def run_bare(core_url: str, analytics_url: str) -> int:
    """The reference of a run that finds nothing: connect to both, one query."""
    import psycopg

    with psycopg.connect(core_url) as core, psycopg.connect(analytics_url) as analytics:
        analytics.execute("SELECT 1")
        row = core.execute("SELECT 1").fetchone()
    return 0 if row is None else 0


def run_mode(args: argparse.Namespace, core_url: str, analytics_url: str) -> int:
    """Run ``args.mode`` once; returns the rows it moved."""
    source = SOURCES[args.table]
    if args.mode == "psql":
        return run_psql(source, core_url, analytics_url)
    if args.mode == "psql-select":
        return run_psql_select(source, core_url, analytics_url)
    if args.mode == "raw":
        return run_raw(source, core_url, analytics_url)
    if args.mode in TABLESYNC_MODES:
        return run_tablesync(
            args.mode, args.batch_size, source, core_url, analytics_url, verify_only=args.verify
        )
    if args.mode in ("sling", "dlt"):
        from tools.bench.peer_runs import run_dlt, run_sling

        run = run_sling if args.mode == "sling" else run_dlt
        return run(source, args.incremental, core_url, analytics_url)
    if args.mode == "hand":
        value, _, row_id = (args.after or "-infinity,0").rpartition(",")
        return run_hand(args.batch_size, (value, row_id), source, core_url, analytics_url)
    return run_bare(core_url, analytics_url)


def main(argv: list[str] | None = None) -> int:
    """Run one mode and print its JSON line."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench.driver")
    parser.add_argument("mode", choices=[*MODES])
    parser.add_argument("--table", choices=sorted(SOURCES), default="ordered")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--after", default=None, help="hand: start after VALUE,ID")
    parser.add_argument("--incremental", action="store_true", help="sling, dlt: not a full load")
    parser.add_argument("--verify", action="store_true", help="copy, transform, select: --verify")
    args = parser.parse_args(argv)
    core_url, analytics_url = os.environ["BENCH_CORE_URL"], os.environ["BENCH_ANALYTICS_URL"]
    started = time.perf_counter()
    rows = run_mode(args, core_url, analytics_url)
    seconds = time.perf_counter() - started
    # Children are transform workers (joined before the run ends) or the psql pair.
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    own_kib = peak_rss_kib()
    if args.mode in ("psql", "sling"):  # the memory is the child's, not this waiting parent's
        own_kib, children_kib = children_kib, 0
    out = {"rows": rows, "seconds": seconds, "peak_rss_kib": own_kib}
    print(json.dumps({**out, "workers_peak_rss_kib": children_kib}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
