"""Identifiers are used exactly as written: always quoted, on both sides."""

from __future__ import annotations

from typing import Any

import pytest
from dbtools import TestDatabases
from psycopg import sql
from synctools import definition, on_both, position, sync

SCHEMA = 'My "Schema"'
TABLE = "select Events"
COLUMNS = {"Id": "int PRIMARY KEY", "order": "text", "the value": "numeric", 'cur"sor': "int"}
CURSOR, TIE = 'cur"sor', "Id"


def _create(dbs: TestDatabases) -> None:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
        for name, kind in COLUMNS.items()
    )
    on_both(dbs, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)).as_string())
    on_both(
        dbs,
        sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(SCHEMA, TABLE), columns).as_string(),
    )
    dbs.query_core(
        sql.SQL(
            "INSERT INTO {} SELECT g, 'o' || g, g / 3.0, g / 2 FROM generate_series(1, 7) g"
        ).format(sql.Identifier(SCHEMA, TABLE))
    )


def _rows(dbs: TestDatabases, query: Any) -> list[Any]:
    rows: list[Any] = query(
        sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(SCHEMA, TABLE))
    )
    return rows


@pytest.mark.parametrize("transform", [None, lambda r: r], ids=["copy", "transform"])
def test_names_needing_quotes_everywhere(dbs: TestDatabases, transform: Any) -> None:
    _create(dbs)
    export = definition(
        TABLE,
        CURSOR,
        id_field=TIE,
        keys=["Id"],
        source_schema=SCHEMA,
        dest_schema=SCHEMA,
        columns=list(COLUMNS),
        batch_size=2,
        transform=transform,
    )

    result = sync(dbs, export)

    assert result.counts.created == 7
    assert _rows(dbs, dbs.query_analytics) == _rows(dbs, dbs.query_core)
    assert position(dbs) == ("3", "7")
