"""A schema no sync test was written for: a rental shop modelled on the DVD-rental sample.

Issue 19 tried tablesync as a new user on PostgreSQL's DVD-rental sample and
found five problems; this test walks the same path on a schema of the same
features (tests/sample_schema/core.sql: an enum, a domain over integer, text[],
a tsvector kept by a trigger, bytea, character(20), two tables keyed by two
columns, a payment table partitioned by month that gains a partition, a
nullable last_update, last_update triggers, and a txid_snapshot column):
load it, change it as an application would (updates, inserts, hard deletes, a
cursor set to NULL), sync, ``--verify --keys --repair``, ``--verify``, and
compare every row of the fifteen tables by its text form on each server.

Each problem fails it when its fix is removed:

1. a tie-breaker of one column of a two-column key (``FilmActorByActor``) is
   refused before writing (rule 16), where it lost updates of one
   transaction's ~300 tied rows in batches of ten;
2. analytics' own ``year`` (a domain over date) for core's ``year`` (over
   integer) is refused (rule 17), where binary COPY made 2006 a date;
3. staff's ``txid_snapshot`` (no ``=`` operator) is updated by the incremental
   run, which failed on every run after the first;
4. a customer whose ``last_update`` became NULL is kept by the repair (rule 18),
   which deleted it;
5. payment's first load is a backfill over its monthly partitions' heaps
   (rule 15), which read the parent in cursor order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbtools import CliResult, TestDatabases, run_cli
from definitions.sample_schema import TABLES, definition_name
from faultkit import JOB, fault_env
from psycopg import sql

SCHEMA_DIR = Path(__file__).parent / "sample_schema"
NAMES = [definition_name(table) for table in TABLES]
PARTITIONS = ["payment_p2007_02", "payment_p2007_03", "payment_p2007_04", "payment_p2007_05"]
# Which leaf partition each chunk of payment's backfill read.
PAYMENT_LEAVES = (
    "SELECT DISTINCT leaf_name FROM tablesync.backfill_chunks"
    " WHERE definition = 'Payment' ORDER BY 1"
)
# How the shop's application changes its data between two syncs.
APPLICATION = [
    # Eleven actors' films recast in one transaction: ~300 film_actor rows, one now().
    "UPDATE film_actor SET last_update = now() WHERE actor_id BETWEEN 20 AND 30",
    "UPDATE film SET title = title || ' (Director''s Cut)', rental_rate = rental_rate + 1"
    " WHERE film_id % 50 = 0",  # the trigger makes fulltext again
    "INSERT INTO film (title, description, release_year, language_id, rating, fulltext,"
    " special_features) VALUES ('New Film', 'Fresh', 2024, 2, 'NC-17', '', ARRAY[NULL, 'x'])",
    "DELETE FROM film_category WHERE film_id % 97 = 0",
    "INSERT INTO film_category (film_id, category_id) SELECT 1001, c FROM generate_series(1, 3) c",
    "UPDATE language SET name = 'Klingon' WHERE language_id = 6",
    "UPDATE actor SET last_name = 'Ñandú 🎬' WHERE actor_id % 40 = 0",
    "UPDATE address SET address2 = CASE WHEN address2 IS NULL THEN '' END"
    " WHERE address_id % 30 = 0",
    "UPDATE staff SET session = txid_current_snapshot(), picture = '\\x00ff00'::bytea",
    # A customer's last_update set to NULL by the application: no longer exported (rule 6).
    "UPDATE customer SET last_update = NULL, active = 0 WHERE customer_id = 7",
    "INSERT INTO customer (store_id, first_name, last_name, address_id, last_update)"
    " VALUES (1, 'No', 'Cursor', 600, NULL), (2, 'Has', 'Cursor', 601, now())",
    "DELETE FROM rental WHERE rental_id % 100 = 0",
    "UPDATE rental SET return_date = now() WHERE return_date IS NULL",
    "INSERT INTO inventory (film_id, store_id) VALUES (1001, 1), (1001, 2)",
    "UPDATE payment SET amount = amount + 1 WHERE payment_id % 25 = 0",
    "CREATE TABLE payment_p2007_06 PARTITION OF payment"
    " FOR VALUES FROM ('2007-06-01 00:00+00') TO ('2007-07-01 00:00+00')",
    "INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date)"
    " SELECT 1 + g % 599, 1, g, 2.99, '2007-06-02 10:00+00'::timestamptz + g * interval '1 h'"
    " FROM generate_series(1, 40) g",
    "DELETE FROM payment WHERE payment_id IN (3, 1500)",
]


def test_the_sample_schema_syncs_exactly_through_changes_verify_and_repair(
    dbs: TestDatabases, tmp_path: Path
) -> None:
    dbs.query_core((SCHEMA_DIR / "core.sql").read_bytes())
    dbs.query_analytics((SCHEMA_DIR / "analytics.sql").read_bytes())
    env = {**fault_env(dbs, tmp_path, "sample_schema"), "TABLESYNC_BACKFILL_CHUNK_PAGES": "2"}

    def cli(*args: str) -> CliResult:
        return run_cli([JOB, *args], env, cwd=tmp_path)

    # 2. Analytics' year is a domain over date: refused before writing, both types named.
    film = cli("Film")
    assert film.code == 2, film.stdout + film.stderr
    assert "release_year" in film.stderr and "domain over date" in film.stderr, film.stderr
    assert dbs.query_analytics("SELECT count(*) FROM analytics_raw.film") == [(0,)]
    dbs.query_analytics(  # what the user does about it: the column takes integers
        "ALTER TABLE analytics_raw.film ALTER COLUMN release_year TYPE integer USING NULL"
    )
    # 1. One column of film_actor's two-column key as tie-breaker: refused, naming it.
    by_actor = cli("FilmActorByActor")
    assert by_actor.code == 2, by_actor.stdout + by_actor.stderr
    assert "id_field" in by_actor.stderr and "film_id" in by_actor.stderr, by_actor.stderr

    loaded = cli(*NAMES)

    assert loaded.code == 0, loaded.stdout + loaded.stderr
    # 5. Payment's first load read each monthly partition's heap in chunks.
    assert [r[0] for r in dbs.query_analytics(PAYMENT_LEAVES)] == PARTITIONS
    assert_exact(dbs)

    for statement in APPLICATION:
        dbs.query_core(statement.encode())
    synced = cli(*NAMES)  # 3. staff's txid_snapshot compared without an = operator
    repaired = cli("--verify", "--keys", "--repair", "--yes", *NAMES)
    verified = cli("--verify", *NAMES)

    assert synced.code == 0, synced.stdout + synced.stderr
    assert repaired.code == 0, repaired.stdout + repaired.stderr
    assert verified.code == 0, verified.stdout + verified.stderr
    # 4. The customer whose cursor became NULL is still in analytics, as it was.
    kept = "SELECT active FROM analytics_raw.customer WHERE customer_id = 7"
    assert dbs.query_analytics(kept) == [(1,)]
    assert_exact(dbs)


def assert_exact(dbs: TestDatabases) -> None:
    """Every table of analytics holds core's rows, compared by their text forms made on
    each server: each row core exports (its cursor not NULL) as core has it, no other
    row, except those whose cursor core holds as NULL, kept as they were (rule 18)."""
    differences: dict[str, list[Any]] = {}
    for table, key in TABLES.items():
        core, analytics = _rows(dbs, "core", table, key), _rows(dbs, "analytics", table, key)
        exported = {k: text for k, (text, null_cursor) in core.items() if not null_cursor}
        kept = {k for k, (_, null_cursor) in core.items() if null_cursor}
        held = {k: text for k, (text, _) in analytics.items() if k not in kept}
        wrong = sorted(k for k in exported.keys() | held.keys() if exported.get(k) != held.get(k))
        if wrong:
            differences[table] = [(k, exported.get(k), held.get(k)) for k in wrong[:3]]
    assert differences == {}


def _rows(dbs: TestDatabases, side: str, table: str, key: list[str]) -> dict[str, tuple[str, bool]]:
    """key text -> (the row's text form over analytics' columns, its cursor is NULL)."""
    names = [
        r[0]
        for r in dbs.query_analytics(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " 'analytics_raw' AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
    ]
    relation = sql.Identifier(table) if side == "core" else sql.Identifier("analytics_raw", table)
    query = sql.SQL(
        "SELECT ROW({key})::text, ROW({columns})::text, last_update IS NULL FROM {relation}"
    ).format(
        key=sql.SQL(", ").join(map(sql.Identifier, key)),
        columns=sql.SQL(", ").join(map(sql.Identifier, names)),
        relation=relation,
    )
    rows = dbs.query_core(query) if side == "core" else dbs.query_analytics(query)
    return {r[0]: (r[1], r[2]) for r in rows}
