"""The peers' measured runs: Sling and dlt loading a bench table as a user would run them.

Called by ``python -m tools.bench.driver sling|dlt [--incremental]`` (one process
a run, like every other measure). Neither is a dependency of tablesync: both come
from the ``peers`` extra (``make bench-peers``), and :func:`missing` says which
one is not installed. Both run offline: Sling's telemetry is off
(``SLING_DISABLE_TELEMETRY``) and its home is a bench folder; dlt's telemetry is
off (``RUNTIME__DLTHUB_TELEMETRY``) and its project and data folders are bench
folders, so neither reads a user's config nor writes outside ``.tablesync/``.

- Sling (its CLI binary from the ``sling-linux-amd64`` wheel): a full load is
  ``--mode truncate`` into ``bench.event_sling``, created by the bench with the
  source's types and primary key; an incremental run is ``--mode incremental``
  with ``--update-key updated_at --primary-key id`` (Sling reads the target's
  max(updated_at) and upserts on id).
- dlt: ``sql_table`` of the source with ``dlt.sources.incremental("updated_at")``
  into the postgres destination, dataset ``bench_dlt_<table key>``; a full load is
  the pipeline's first run (``replace``), an incremental run the next one
  (``merge`` on id, from the cursor the first run saved in the pipeline state).
  ``BENCH_DLT_BACKEND`` (default connectorx) and ``BENCH_DLT_FORMAT`` (default csv,
  loaded by COPY) pick how rows are read and loaded.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path

from tools.bench.data import BENCH_SCHEMA, SourceTable

PEERS = ("sling", "dlt")
SLING_TABLE = "event_sling"
PEERS_DIR = Path(__file__).resolve().parents[2] / ".tablesync" / "bench-peers"


def sling_binary() -> Path | None:
    """The Sling CLI shipped in the sling-linux-amd64 wheel, None when not installed.
    (Never the ``sling`` Python wrapper: it downloads a binary when it finds none.)"""
    spec = importlib.util.find_spec("sling_linux_amd64")
    if spec is None or spec.origin is None:
        return None
    found = Path(spec.origin).parent / "bin" / "sling-linux-amd64"
    return found if found.is_file() else None


def missing(peer: str) -> str | None:
    """Why ``peer`` cannot run here, or None when it is installed."""
    if peer == "sling" and sling_binary() is None:
        return "sling-linux-amd64 is not installed"
    if peer == "dlt":
        for module in ("dlt", "psycopg2", "sqlalchemy", "pyarrow"):
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed"
    return None


def version(peer: str) -> str:
    """The installed version of ``peer``, as its own ``--version`` or metadata says."""
    if peer == "sling":
        done = subprocess.run([str(sling_binary()), "--version"], capture_output=True, text=True)
        return done.stdout.strip().split()[-1] if done.stdout.strip() else "?"
    from importlib.metadata import version as installed

    extras = ", ".join(
        f"{m} {installed(m)}"
        for m in ("pyarrow", "connectorx", "sqlalchemy")
        if importlib.util.find_spec(m)
    )
    return f"{installed('dlt')} ({extras})"


def dlt_dataset(source: SourceTable) -> str:
    """The analytics schema dlt loads ``source`` into (its tables, state and staging)."""
    return f"bench_dlt_{source.key}"


def sling_env(core_url: str, analytics_url: str) -> dict[str, str]:
    """Sling's environment: the two connections by name (never on the command line,
    where a password would show in the process list), no telemetry, a bench home."""
    home = PEERS_DIR / "sling"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "SLING_HOME_DIR": str(home),
        "SLING_DISABLE_TELEMETRY": "true",
        # Sling 1.4 looks for a newer release on every 4th second's run, with no
        # switch to turn it off: send any HTTP(S) request to a closed local port.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "BENCH_CORE": core_url,
        "BENCH_ANALYTICS": analytics_url,
    }


def run_sling(source: SourceTable, incremental: bool, core_url: str, analytics_url: str) -> int:
    """One Sling run of ``source`` into bench.event_sling; returns the rows it wrote."""
    binary = sling_binary()
    if binary is None:
        raise SystemExit(f"error: sling: {missing('sling')} (make bench-peers installs it)")
    command = [str(binary), "run", "--src-conn", "BENCH_CORE"]
    command += ["--src-stream", f"public.{source.table}", "--tgt-conn", "BENCH_ANALYTICS"]
    command += ["--tgt-object", f"{BENCH_SCHEMA}.{SLING_TABLE}"]
    if incremental:
        command += ["--mode", "incremental", "--update-key", "updated_at", "--primary-key", "id"]
    else:
        command += ["--mode", "truncate"]
    done = subprocess.run(
        command,
        env=sling_env(core_url, analytics_url),
        capture_output=True,
        text=True,
        check=False,
    )
    log = done.stdout + done.stderr
    inserted = re.search(r"inserted (\d+) rows", log)
    if done.returncode != 0 or (inserted is None and "no data" not in log.lower()):
        raise SystemExit(f"error: sling exited {done.returncode}:\n{log}")
    return int(inserted.group(1)) if inserted else 0


def _dlt_environment() -> None:
    """Before dlt is imported: no telemetry, its folders under .tablesync/bench-peers."""
    folder = PEERS_DIR / "dlt"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ["DLT_DATA_DIR"] = str(folder / "data")
    os.environ["DLT_PROJECT_DIR"] = str(folder / "project")


def _with_password(url: str) -> str:
    """``url`` with a placeholder password when it has none: dlt's postgres
    credentials require one, and the bench's embedded server (trust) ignores it."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is not None or parts.username is None:
        return url
    netloc = f"{parts.username}:unused@{parts.netloc.split('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc))


def run_dlt(source: SourceTable, incremental: bool, core_url: str, analytics_url: str) -> int:
    """One dlt pipeline run of ``source``: its first (replace) or a later (merge) one;
    returns the rows it loaded."""
    _dlt_environment()
    import dlt
    from dlt.sources.sql_database import sql_table

    pipeline = dlt.pipeline(
        pipeline_name=dlt_dataset(source),
        destination=dlt.destinations.postgres(credentials=_with_password(analytics_url)),
        dataset_name=dlt_dataset(source),
        pipelines_dir=str(PEERS_DIR / "dlt" / "pipelines"),
    )
    resource = sql_table(
        credentials=core_url,
        table=source.table,
        schema="public",
        backend=os.environ.get("BENCH_DLT_BACKEND", "connectorx"),
        # numeric(12,2) stays numeric(12,2), not dlt's default numeric(38,9)
        reflection_level="full_with_precision",
        incremental=dlt.sources.incremental("updated_at"),
        write_disposition="merge" if incremental else "replace",
        primary_key="id",
    )
    pipeline.run(resource, loader_file_format=os.environ.get("BENCH_DLT_FORMAT", "csv"))
    trace = pipeline.last_trace
    counts = trace.last_normalize_info.row_counts if trace.last_normalize_info else {}
    return int(counts.get(source.table, 0))
