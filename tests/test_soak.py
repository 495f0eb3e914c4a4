"""Writers that never rest: runs every two seconds while core is written all the time.

Four writer threads insert and update core rows for TEST_SOAK_S seconds (15
here; 60 or more on demand: ``TEST_SOAK_S=60 pytest tests/test_soak.py``), the
cursor set by the server's now() in the writing transaction (timestamptz) or
by a sequence (bigserial), and a fifth of their transactions held open 0.2-3 s
before they commit, so rows keep committing out of cursor order. A run of both
definitions starts every two seconds. Then the writers stop, two more runs,
and analytics must equal core row for row, each key inserted once. Without the
watermark (rule 8) the runs move past the late rows and lose them.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import psycopg
from dbtools import TestDatabases, run_cli
from faultkit import JOB, fault_env

SOAK_S = float(os.environ.get("TEST_SOAK_S", "15"))
RUN_EVERY_S = 2.0
WRITERS = 4
HELD_OPEN_S = (0.2, 3.0)
NAMES = ("ByTime", "BySerial")  # tests/definitions/soak.py

TABLES = """
CREATE TABLE {schema}events (
  id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload text NOT NULL
);
CREATE TABLE {schema}ledger (id bigserial PRIMARY KEY, payload text NOT NULL);
"""
INSERT_LOG = """
CREATE TABLE inserted (tbl text, id bigint);
CREATE FUNCTION log_insert() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO inserted VALUES (TG_TABLE_NAME, NEW.id); RETURN NEW; END$$;
CREATE TRIGGER log_insert AFTER INSERT ON analytics_raw.events
  FOR EACH ROW EXECUTE FUNCTION log_insert();
CREATE TRIGGER log_insert AFTER INSERT ON analytics_raw.ledger
  FOR EACH ROW EXECUTE FUNCTION log_insert();
"""
CHECKSUMS = "SELECT id, md5(t::text) FROM {} AS t ORDER BY id"


def _write(url: str, seed: int, until: float) -> None:
    """Insert and update rows in small transactions; a fifth of them held open a while."""
    rng = random.Random(seed)
    with psycopg.connect(url) as conn:
        while time.monotonic() < until:
            with conn.transaction():
                if rng.random() < 0.5:
                    conn.execute(
                        "INSERT INTO events (payload) SELECT 'w' || g"
                        " FROM generate_series(1, %s) g",
                        (rng.randint(1, 5),),
                    )
                else:  # the cursor moves to this transaction's now()
                    conn.execute(
                        "UPDATE events SET at = now(), payload = payload || '+' WHERE id IN"
                        " (SELECT id FROM events ORDER BY random() LIMIT 3)"
                    )
                conn.execute("INSERT INTO ledger (payload) VALUES (%s)", (f"w{seed}",))
                if rng.random() < 0.2:
                    time.sleep(rng.uniform(*HELD_OPEN_S))
            time.sleep(rng.uniform(0.005, 0.03))


def _differing(dbs: TestDatabases) -> list[str]:
    """The tables whose analytics rows (ids and per-row md5) are not core's."""
    found = []
    for table in ("events", "ledger"):
        core = dbs.query_core(CHECKSUMS.format(table).encode())
        analytics = dbs.query_analytics(CHECKSUMS.format(f"analytics_raw.{table}").encode())
        if analytics != core:
            found.append(f"{table}: {len(core) - len(analytics)} row(s) short")
    return found


def test_runs_every_two_seconds_under_busy_writers_lose_nothing(
    dbs: TestDatabases, tmp_path: Path
) -> None:
    dbs.query_core(TABLES.format(schema="").encode())
    dbs.query_analytics(TABLES.format(schema="analytics_raw.").encode() + INSERT_LOG.encode())
    dbs.query_core("INSERT INTO events (payload) SELECT 'seed' FROM generate_series(1, 50)")
    env = fault_env(dbs, tmp_path, "soak")
    until = time.monotonic() + SOAK_S
    writers = [
        threading.Thread(target=_write, args=(dbs.core_url, seed, until), daemon=True)
        for seed in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    runs = 0
    while time.monotonic() < until:
        started = time.monotonic()
        outcome = run_cli([JOB, *NAMES], env, cwd=tmp_path)
        assert outcome.code == 0, outcome.stderr
        runs += 1
        time.sleep(max(RUN_EVERY_S - (time.monotonic() - started), 0))
    for writer in writers:
        writer.join(timeout=10)
    for _ in range(2):
        assert run_cli([JOB, *NAMES], env, cwd=tmp_path).code == 0
    assert runs >= SOAK_S / (RUN_EVERY_S * 2)
    assert _differing(dbs) == []
    assert dbs.query_core("SELECT count(*) > 100 FROM ledger") == [(True,)]
    twice = dbs.query_analytics("SELECT tbl, id FROM inserted GROUP BY 1, 2 HAVING count(*) > 1")
    assert twice == []
