"""Contract rule 18: a repair never deletes a destination row whose key core still holds.

Issue 19's problem 4: ``customer.last_update`` is nullable; a row exported once whose
cursor became NULL is not exported again (rule 6), but core still has it, so
``--verify --keys`` counts it apart ("not exported, kept") and ``--repair`` keeps it,
while a row really deleted in core is still found and deleted. Each way keys are
compared is tried: hashed on each server (one column, two columns), through a transform,
and the full ``--verify``.
"""

from __future__ import annotations

import json

import pytest
from dbtools import TestDatabases, run_cli, with_definitions
from opstools import JOB, RunCli

CUSTOMER = (
    "CREATE TABLE customer (customer_id int NOT NULL, store_id int NOT NULL, name text,"
    " last_update timestamptz, PRIMARY KEY (store_id, customer_id))"
)
ROWS = 60
NULLED, DELETED = 7, 9  # customer_ids: a cursor set to NULL in core, a row deleted in core
KEPT = "  1 row(s) have a NULL cursor in core: not exported, kept"


@pytest.fixture
def customers(dbs: TestDatabases, env: dict[str, str]) -> dict[str, str]:
    """Both customer tables synced; then one row's cursor NULLed and one deleted in core."""
    dbs.query_core(CUSTOMER)
    dbs.query_core("CREATE UNIQUE INDEX ON customer (customer_id)")
    dbs.query_analytics(CUSTOMER)
    dbs.query_analytics("CREATE UNIQUE INDEX ON customer (customer_id)")
    dbs.query_analytics("CREATE TABLE customer_t (id int PRIMARY KEY, store_id int, name text)")
    dbs.query_core(
        "INSERT INTO customer SELECT g, g %% 2, 'c' || g, '2026-01-01'::timestamptz + g * interval"
        " '1 minute' FROM generate_series(1, %s) g",
        (ROWS,),
    )
    cli_env = with_definitions(env, "customer")
    for name in ("Customer", "CustomerT"):
        done = run_cli([JOB, name], env=cli_env)
        assert done.code == 0, done.stdout + done.stderr
    dbs.query_core("UPDATE customer SET last_update = NULL WHERE customer_id = %s", (NULLED,))
    dbs.query_core("DELETE FROM customer WHERE customer_id = %s", (DELETED,))
    return cli_env


def _ids(dbs: TestDatabases, table: str, column: str = "customer_id") -> list[int]:
    return [r[0] for r in dbs.query_analytics(f"SELECT {column} FROM {table} ORDER BY 1")]


@pytest.mark.parametrize(
    ("name", "table", "column", "method"),
    [
        ("Customer", "customer", "customer_id", "hashed on each server, in one scan of each"),
        ("CustomerPair", "customer", "customer_id", "hashed on each server"),
        ("CustomerT", "customer_t", "id", "through the transform (its key is computed)"),
    ],
)
def test_a_repair_keeps_a_row_whose_cursor_became_null_in_core(
    dbs: TestDatabases,
    run_cli: RunCli,
    customers: dict[str, str],
    name: str,
    table: str,
    column: str,
    method: str,
) -> None:
    checked = run_cli([JOB, "--verify", "--keys", name], env=customers)

    assert checked.code == 1, checked.stdout + checked.stderr
    assert method in checked.stdout
    example = f"store_id=1, customer_id={DELETED}" if name == "CustomerPair" else None
    example = example or f"{column}={DELETED}"
    assert f"  extra: 1 (e.g. {example}): rows core no longer has" in checked.stdout
    assert KEPT in checked.stdout.splitlines()

    repaired = run_cli([JOB, "--verify", "--keys", "--repair", "--json", name], env=customers)

    assert repaired.code == 0, repaired.stdout + repaired.stderr
    found = json.loads(repaired.stdout)
    assert (found["extra"], found["deleted"], found["null_cursor"]) == (1, 1, 1)
    expected = [i for i in range(1, ROWS + 1) if i != DELETED]
    assert _ids(dbs, table, column) == expected  # NULLED is still there
    again = run_cli([JOB, "--verify", "--keys", name], env=customers)
    assert again.code == 0, again.stdout + again.stderr
    assert "no extra rows" in again.stdout and KEPT in again.stdout.splitlines()


@pytest.mark.parametrize("name", ["Customer", "CustomerT"])
def test_the_full_verify_repair_keeps_it_too(
    dbs: TestDatabases, run_cli: RunCli, customers: dict[str, str], name: str
) -> None:
    repaired = run_cli([JOB, "--verify", "--repair", name], env=customers)

    assert repaired.code == 0, repaired.stdout + repaired.stderr
    assert KEPT in repaired.stdout.splitlines()
    table, column = ("customer", "customer_id") if name == "Customer" else ("customer_t", "id")
    assert _ids(dbs, table, column) == [i for i in range(1, ROWS + 1) if i != DELETED]
