"""Guarantees 2, 4 and 7 (docs/guarantees.md): a batch and its position commit together;
failures stop cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import pytest
from dbtools import REPO_ROOT, TestDatabases
from synctools import definition, failing_on, position, runs, sync

from services.base.errors import EXIT_RUN_FAILED, RowError, RunError

# Rows 1..10, one cursor value each, batches of three: row 8 sits in batch 3.
ROWS = 10
BAD_ROW = 8


pytestmark = pytest.mark.usefixtures("failures_in_tmp")


def _numbered_table(dbs: TestDatabases, dest_v: str = "text") -> None:
    dbs.query_core("CREATE TABLE t (id int PRIMARY KEY, n int, v text)")
    dbs.query_analytics(f"CREATE TABLE t (id int PRIMARY KEY, n int, v {dest_v})")
    dbs.query_core(
        "INSERT INTO t SELECT g, g * 10, 'v' || g FROM generate_series(1, %s) g", (ROWS,)
    )


def _ids(dbs: TestDatabases) -> list[int]:
    return [r[0] for r in dbs.query_analytics("SELECT id FROM t ORDER BY id")]


def test_a_failing_row_keeps_earlier_batches_and_the_position_before_its_batch(
    dbs: TestDatabases,
) -> None:
    _numbered_table(dbs)

    with pytest.raises(RowError) as caught:
        sync(dbs, definition("t", "n", id_field="id", batch_size=3, transform=failing_on(8)))

    assert caught.value.exit_code == EXIT_RUN_FAILED
    assert _ids(dbs) == [1, 2, 3, 4, 5, 6]
    assert position(dbs) == ("60", "6")
    message = str(caught.value)
    assert "n=80" in message and "id=8" in message and "cannot handle v8" in message


def test_a_failed_run_is_recorded_with_the_counts_of_its_committed_batches_and_its_bad_row(
    dbs: TestDatabases,
) -> None:
    _numbered_table(dbs)

    with pytest.raises(RowError):
        sync(dbs, definition("t", "n", batch_size=3, transform=failing_on(BAD_ROW)))

    (record,) = runs(dbs)
    assert record["status"] == "failed"
    counted = ("rows_read", "rows_created", "rows_updated", "rows_errors")
    assert tuple(record[c] for c in counted) == (7, 6, 0, 1)
    assert record["cursor_before"] is None
    assert record["cursor_after"] == {"value": "60", "id": None}
    assert "n=80" in record["error_text"] and "cannot handle v8" in record["error_text"]
    assert record["finished_at"] is not None


def test_the_rerun_after_the_fix_resumes_without_duplicates(dbs: TestDatabases) -> None:
    _numbered_table(dbs)
    dbs.query_analytics("CREATE TABLE writes (id int)")
    dbs.query_analytics(
        "CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN INSERT INTO writes VALUES (NEW.id); RETURN NEW; END$$;"
        " CREATE TRIGGER log_write AFTER INSERT OR UPDATE ON t"
        " FOR EACH ROW EXECUTE FUNCTION log_write()"
    )
    with pytest.raises(RowError):
        sync(dbs, definition("t", "n", batch_size=3, transform=failing_on(BAD_ROW)))

    result = sync(dbs, definition("t", "n", batch_size=3, transform=lambda r: r))

    assert _ids(dbs) == list(range(1, ROWS + 1))
    assert (result.counts.read, result.counts.created, result.counts.updated) == (4, 4, 0)
    written = dbs.query_analytics("SELECT id, count(*) FROM writes GROUP BY id ORDER BY id")
    assert written == [(i, 1) for i in range(1, ROWS + 1)]
    assert [r["status"] for r in runs(dbs)] == ["failed", "succeeded"]
    assert runs(dbs)[-1]["cursor_before"] == {"value": "60", "id": None}


@pytest.mark.parametrize("transform", [None, lambda r: r], ids=["copy", "transform"])
def test_a_value_too_long_for_the_destination_names_its_row(
    dbs: TestDatabases, transform: Any
) -> None:
    _numbered_table(dbs, dest_v="varchar(3)")
    dbs.query_core("UPDATE t SET v = 'much too long' WHERE id = %s", (BAD_ROW,))

    with pytest.raises(RowError) as caught:
        sync(dbs, definition("t", "n", id_field="id", batch_size=3, transform=transform))

    message = str(caught.value)
    assert "n=80" in message and "id=8" in message and "too long" in message
    assert _ids(dbs) == [1, 2, 3, 4, 5, 6]
    assert position(dbs) == ("60", "6")
    # The committed batches' six rows, and the row at fault: read, and one error.
    assert (runs(dbs)[-1]["rows_read"], runs(dbs)[-1]["rows_errors"]) == (7, 1)


def test_each_batch_and_its_position_commit_in_one_transaction(dbs: TestDatabases) -> None:
    _numbered_table(dbs)
    dbs.query_analytics(
        "CREATE TABLE audit (tx xid8, what text, val text);"
        " CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN INSERT INTO audit VALUES (pg_current_xact_id(), 'row', NEW.n::text);"
        " RETURN NEW; END$$;"
        " CREATE FUNCTION audit_position() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN INSERT INTO audit VALUES (pg_current_xact_id(), 'position', NEW.cursor_value);"
        " RETURN NEW; END$$;"
        " CREATE TRIGGER audit AFTER INSERT OR UPDATE ON t"
        " FOR EACH ROW EXECUTE FUNCTION audit_row();"
        " CREATE TRIGGER audit AFTER INSERT OR UPDATE ON tablesync.positions"
        " FOR EACH ROW EXECUTE FUNCTION audit_position()"
    )

    sync(dbs, definition("t", "n", batch_size=3))

    per_transaction = dbs.query_analytics(
        "SELECT array_agg(val::int ORDER BY val::int) FILTER (WHERE what = 'row'),"
        " array_agg(val) FILTER (WHERE what = 'position')"
        " FROM audit GROUP BY tx ORDER BY min(val::int)"
    )
    assert per_transaction == [
        ([10, 20, 30], ["30"]),
        ([40, 50, 60], ["60"]),
        ([70, 80, 90], ["90"]),
        ([100], ["100"]),
    ]


_KILLER = """
import os, signal, sys
sys.path[:0] = [{tests!r}, {repo!r}]
from dbtools import TestDatabases
from synctools import definition, sync

def die_on_bad_row(row):
    if row["id"] == {bad}:
        os.kill(os.getpid(), signal.SIGKILL)
    return row

dbs = TestDatabases(core_url={core!r}, analytics_url={analytics!r}, server=None)
sync(dbs, definition("t", "n", batch_size=3, transform=die_on_bad_row))
"""


def test_a_run_killed_mid_batch_resumes_without_loss_or_duplicates(dbs: TestDatabases) -> None:
    _numbered_table(dbs)
    script = _KILLER.format(
        tests=str(REPO_ROOT / "tests"),
        repo=str(REPO_ROOT),
        bad=BAD_ROW,
        core=dbs.core_url,
        analytics=dbs.analytics_url,
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _ids(dbs) == [1, 2, 3, 4, 5, 6]
    assert position(dbs) == ("60", None)

    result = sync(dbs, definition("t", "n", batch_size=3))

    assert _ids(dbs) == list(range(1, ROWS + 1))
    assert (result.counts.read, result.counts.created) == (4, 4)
    assert [r["status"] for r in runs(dbs)] == ["abandoned", "succeeded"]


def test_a_database_error_in_a_batch_fails_the_run_with_exit_1(dbs: TestDatabases) -> None:
    _numbered_table(dbs)
    dbs.query_analytics("ALTER TABLE t ADD CONSTRAINT small CHECK (n < 50)")

    with pytest.raises(RunError) as caught:
        sync(dbs, definition("t", "n", batch_size=3))

    assert caught.value.exit_code == EXIT_RUN_FAILED
    assert "small" in str(caught.value)
    assert _ids(dbs) == [1, 2, 3]
    assert runs(dbs)[-1]["status"] == "failed"
