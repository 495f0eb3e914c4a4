"""Contract rule 16: a tie-breaker never loses rows. ``cursor.id_field`` is one column or
a list; the run proves ``(cursor, id_field...)`` unique from core's catalog, or refuses
before writing (exit 2) naming id_field and the unique keys it found.

The table is the sample schema's ``film_actor`` (primary key ``(actor_id, film_id)``),
and the change is issue 19's problem 1: one transaction giving 300 rows of 11 actors
the same ``now()``, read in batches of 10.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from consolekit import TOKEN, Cli, serving
from dbtools import TestDatabases, with_definitions
from faultkit import fault_env
from opstools import RunCli
from synctools import JOB, definition, on_both, runs, sync

from services.base.definition import ExportDefinition
from services.base.errors import PreflightError
from services.store import preflight

FILM_ACTOR = (
    "CREATE TABLE film_actor (actor_id int NOT NULL, film_id int NOT NULL,"
    " role text NOT NULL, last_update timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (actor_id, film_id))"
)
ACTORS, FILMS = 40, 30
# Issue 19, problem 1: one transaction, one now(), 300 rows across 11 actors.
ONE_TRANSACTION = (
    "UPDATE film_actor SET role = 'changed', last_update = now()"
    " WHERE (actor_id <= 10 AND film_id <= 27) OR actor_id = 11"
)
REFUSAL = (
    "error: ByActor: id_field ['actor_id'] does not make (last_update, actor_id) unique:"
    " core's unique keys on public.film_actor are (actor_id, film_id);"
    ' use id_field: ["actor_id", "film_id"]'
)
ROWS = "SELECT actor_id, film_id, role, last_update::text FROM film_actor ORDER BY 1, 2"


@pytest.fixture
def film_actor(dbs: TestDatabases) -> TestDatabases:
    on_both(dbs, FILM_ACTOR)
    dbs.query_core(
        "INSERT INTO film_actor SELECT a, f, 'cast', '2026-01-01'"
        " FROM generate_series(1, %s) a, generate_series(1, %s) f",
        (ACTORS, FILMS),
    )
    return dbs


def _export(id_field: Any, table: str = "film_actor") -> ExportDefinition:
    return definition(
        table,
        "last_update",
        id_field=id_field,
        keys=["actor_id", "film_id"],
        dest_table="film_actor",
        batch_size=10,
    )


def _exact(dbs: TestDatabases) -> bool:
    return dbs.query_core(ROWS) == dbs.query_analytics(ROWS)


@pytest.mark.parametrize("first_load", ["backfill", "cursor order"])
def test_one_transaction_over_a_composite_key_is_exported_exactly(
    film_actor: TestDatabases, monkeypatch: pytest.MonkeyPatch, first_load: str
) -> None:
    if first_load == "cursor order":  # 1,200 rows of one cursor value, 10 a batch
        monkeypatch.setenv("TABLESYNC_BACKFILL", "off")
    export = _export(["actor_id", "film_id"])
    sync(film_actor, export)
    assert _exact(film_actor)
    handed = film_actor.query_analytics("SELECT handover_id, handover_ids FROM tablesync.backfills")
    # A backfill hands over at the last row below its watermark, every id column kept.
    assert handed == ([(None, [str(ACTORS), str(FILMS)])] if first_load == "backfill" else [])
    film_actor.query_core(ONE_TRANSACTION)
    assert film_actor.query_core(
        "SELECT count(*), count(DISTINCT actor_id), count(DISTINCT last_update)"
        " FROM film_actor WHERE role = 'changed'"
    ) == [(300, 11, 1)]

    result = sync(film_actor, export)

    assert (result.counts.read, result.counts.updated) == (300, 300)
    assert _exact(film_actor)
    last = film_actor.query_core(
        "SELECT last_update::text, actor_id::text, film_id::text FROM film_actor"
        " ORDER BY film_actor.last_update DESC, film_actor.actor_id DESC, film_actor.film_id DESC"
        " LIMIT 1"
    )[0]
    saved = film_actor.query_analytics(
        "SELECT cursor_value, cursor_id, cursor_ids FROM tablesync.positions"
    )
    assert saved == [(last[0], None, [last[1], last[2]])]
    record = runs(film_actor)[-1]
    assert record["cursor_after"] == {"value": last[0], "id": [last[1], last[2]]}
    assert result.shown_position == {
        "last_update": last[0],
        "actor_id": last[1],
        "film_id": last[2],
    }


def test_without_the_uniqueness_proof_a_one_column_tie_breaker_loses_updates(
    film_actor: TestDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What rule 16's proof prevents: issue 19's problem 1, on the engine without it."""
    monkeypatch.setattr(preflight, "tie_breaker_problem", lambda cursor, source: None)
    export = _export("actor_id")
    sync(film_actor, export)
    film_actor.query_core(ONE_TRANSACTION)

    result = sync(film_actor, export)

    assert result.status == "succeeded"
    stale = film_actor.query_analytics("SELECT count(*) FROM film_actor WHERE role = 'cast'")
    assert stale[0][0] > ACTORS * FILMS - 300  # updates lost, and the run said it succeeded
    assert not _exact(film_actor)


def test_a_tie_breaker_that_does_not_cover_a_unique_key_is_refused_before_writing(
    film_actor: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    cli_env = with_definitions(env, "film_actor")

    refused = run_cli([JOB, "ByActor"], env=cli_env)

    assert refused.code == 2, refused.stdout + refused.stderr
    assert refused.error_lines == [REFUSAL]
    assert film_actor.query_analytics("SELECT count(*) FROM film_actor") == [(0,)]
    assert film_actor.query_analytics("SELECT count(*) FROM tablesync.positions") == [(0,)]
    # The dry run refuses it the same way; the composite tie-breaker runs.
    dry = run_cli([JOB, "--dry-run", "ByActor"], env=cli_env)
    assert (dry.code, dry.error_lines) == (2, [REFUSAL])
    done = run_cli([JOB, "FilmActor"], env=cli_env)
    assert done.code == 0, done.stdout + done.stderr
    film_actor.query_core(ONE_TRANSACTION)
    assert run_cli([JOB, "FilmActor"], env=cli_env).code == 0
    assert _exact(film_actor)


def test_a_view_proves_nothing_and_is_refused(film_actor: TestDatabases) -> None:
    film_actor.query_core("CREATE VIEW film_actor_view AS SELECT * FROM film_actor")

    with pytest.raises(PreflightError) as refused:
        sync(film_actor, _export(["actor_id", "film_id"], table="film_actor_view"))

    assert str(refused.value) == (
        "t: id_field ['actor_id', 'film_id'] does not make (last_update, actor_id, film_id)"
        " unique: core has no primary key or unique index on public.film_actor_view to prove"
        " it; add one, or drop id_field (rows tying on the cursor then never straddle two"
        " batches)"
    )
    # Without a tie-breaker the view syncs: ties are never split (rule 7).
    sync(film_actor, _export(None, table="film_actor_view"))
    film_actor.query_core(ONE_TRANSACTION)
    sync(film_actor, _export(None, table="film_actor_view"))
    assert _exact(film_actor)


def test_a_partial_unique_index_proves_nothing_a_full_one_with_the_cursor_does(
    dbs: TestDatabases,
) -> None:
    on_both(dbs, "CREATE TABLE t (id int, at timestamptz, v text)")
    dbs.query_core("CREATE UNIQUE INDEX ON t (id) WHERE id > 0")
    with pytest.raises(PreflightError, match=r"core has no primary key or unique index"):
        sync(dbs, definition("t", "at", id_field="id", keys=["id"]))
    dbs.query_core("CREATE UNIQUE INDEX ON t (at, id)")  # covered with the cursor column
    dbs.query_analytics("CREATE UNIQUE INDEX ON t (id)")
    dbs.query_core("INSERT INTO t SELECT g, '2026-01-01', 'v' FROM generate_series(1, 25) g")
    assert (
        sync(dbs, definition("t", "at", id_field="id", keys=["id"], batch_size=4)).counts.read == 25
    )


def test_a_partitioned_source_is_proven_by_its_parents_key(dbs: TestDatabases) -> None:
    dbs.query_core(
        "CREATE TABLE film_actor (actor_id int NOT NULL, film_id int NOT NULL,"
        " role text NOT NULL, last_update timestamptz NOT NULL,"
        " PRIMARY KEY (actor_id, film_id)) PARTITION BY RANGE (film_id)"
    )
    dbs.query_core(
        "CREATE TABLE film_actor_low PARTITION OF film_actor FOR VALUES FROM (1) TO (16)"
    )
    dbs.query_core("CREATE TABLE film_actor_high PARTITION OF film_actor DEFAULT")
    dbs.query_analytics(FILM_ACTOR)
    dbs.query_core(
        "INSERT INTO film_actor SELECT a, f, 'cast', '2026-01-01'"
        " FROM generate_series(1, 40) a, generate_series(1, 30) f"
    )
    with pytest.raises(PreflightError, match=r"are \(actor_id, film_id\)"):
        sync(dbs, _export("actor_id"))
    export = _export(["actor_id", "film_id"])
    sync(dbs, export)
    dbs.query_core(ONE_TRANSACTION)
    assert sync(dbs, export).counts.read == 300
    assert _exact(dbs)


def test_without_a_tie_breaker_ties_are_never_split(film_actor: TestDatabases) -> None:
    export = _export(None)
    sync(film_actor, export)
    film_actor.query_core(ONE_TRANSACTION)

    assert sync(film_actor, export).counts.read == 300
    assert _exact(film_actor)


def test_a_position_saved_under_another_id_field_loses_no_tie(film_actor: TestDatabases) -> None:
    """A definition moved from one id column (proven by a unique index of its own) to two:
    the saved position holds one id, so the rows tying at its value are read again."""
    film_actor.query_core(
        "UPDATE film_actor SET last_update = last_update + film_id * interval '1 second'"
    )
    film_actor.query_core("CREATE UNIQUE INDEX ON film_actor (actor_id, last_update)")
    sync(film_actor, _export("actor_id"))
    film_actor.query_core("DROP INDEX film_actor_actor_id_last_update_idx")
    assert film_actor.query_analytics("SELECT cursor_id FROM tablesync.positions") == [
        (str(ACTORS),)
    ]

    again = sync(film_actor, _export(["actor_id", "film_id"]))

    # Every actor's film 30 ties at the saved value: read again, written as they were.
    assert (again.counts.read, again.counts.skipped) == (ACTORS, ACTORS)
    film_actor.query_core(ONE_TRANSACTION)
    assert sync(film_actor, _export(["actor_id", "film_id"])).counts.read == 300
    assert _exact(film_actor)


def test_status_dry_run_from_and_verify_name_every_column_of_the_tie_breaker(
    film_actor: TestDatabases, run_cli: RunCli, env: dict[str, str]
) -> None:
    cli_env = with_definitions(env, "film_actor")
    assert run_cli([JOB, "FilmActor"], env=cli_env).code == 0
    at = "2026-01-01 00:00:00+00"
    last = f"last_update={at} actor_id={ACTORS} film_id={FILMS}"

    status = run_cli([JOB, "--status", "--json", "FilmActor"], env=cli_env)
    shown = json.loads(status.stdout)[0]
    assert shown["cursor"]["id_field"] == ["actor_id", "film_id"]
    # JSON says the timestamptz in RFC 3339 UTC, as every time it carries.
    assert shown["position"] == {"value": "2026-01-01T00:00:00Z", "id": [str(ACTORS), str(FILMS)]}
    assert last in run_cli([JOB, "--status", "FilmActor"], env=cli_env).stdout
    dry = run_cli([JOB, "--dry-run", "FilmActor"], env=cli_env)
    assert f"from: after last_update={at}, actor_id={ACTORS}, film_id={FILMS}" in dry.stdout

    # --from with one --from-id per column: the next run starts at (at, 5, 10).
    moved = run_cli(
        [JOB, "--from", at, "--from-id", "5", "--from-id", "10", "--yes", "FilmActor"],
        env=cli_env,
    )
    assert moved.code == 0, moved.stdout + moved.stderr
    assert "replay from (last_update, actor_id, film_id) >= (" in moved.stdout
    assert film_actor.query_analytics("SELECT cursor_ids FROM tablesync.positions") == [
        (["5", "9"],)
    ]
    again = run_cli([JOB, "--json", "FilmActor"], env=cli_env)
    (result,) = json.loads(again.stdout)
    assert result["counts"]["read"] == (ACTORS - 5) * FILMS + FILMS - 9
    too_many = run_cli(
        [JOB, "--from", at, *["--from-id", "1"] * 3, "--yes", "FilmActor"], env=cli_env
    )
    assert (too_many.code, too_many.error_lines) == (
        2,
        [
            "error: FilmActor: 3 --from-id values for id_field ['actor_id', 'film_id']:"
            " give at most 2, one per column in order"
        ],
    )

    # --verify cuts ranges in (last_update, actor_id, film_id) order and finds a change.
    film_actor.query_analytics(
        "UPDATE film_actor SET role = 'wrong' WHERE (actor_id, film_id) = (3, 4)"
    )
    found = run_cli([JOB, "--verify", "FilmActor"], env=cli_env)
    assert found.code == 1 and "differing: 1 (e.g. actor_id=3, film_id=4)" in found.stdout
    assert run_cli([JOB, "--verify", "--repair", "FilmActor"], env=cli_env).code == 0
    assert _exact(film_actor)


def test_the_console_names_every_column_of_the_tie_breaker(
    film_actor: TestDatabases, tmp_path: Path
) -> None:
    cli = Cli(fault_env(film_actor, tmp_path, "film_actor"), tmp_path)
    assert cli.sync("FilmActor").code == 0
    run_id = runs(film_actor, "FilmActor")[-1]["id"]

    with serving(cli) as console:
        definition_page = console.request("GET", f"/definitions/{JOB}/FilmActor", token=TOKEN)
        run_page = console.request("GET", f"/runs/{run_id}", token=TOKEN)
        listed = console.request("GET", "/api/v1/definitions", token=TOKEN).json()

    assert "tie-breaker actor_id, film_id" in definition_page.text
    after = f"actor_id={ACTORS} film_id={FILMS}"
    assert after in definition_page.text and after in run_page.text
    (shown,) = [d for d in listed if d["definition"] == "FilmActor"]
    assert shown["cursor"]["id_field"] == ["actor_id", "film_id"]
    assert shown["position"]["id"] == [str(ACTORS), str(FILMS)]
