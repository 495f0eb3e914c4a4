"""The bench's data: two StatEvent-like core tables and the analytics tables they load into.

``ordered``: ``bench_event``, ten rows per ``updated_at`` second, the cursor
growing with the physical order (row n gets second n // 10): reading in
cursor order reads the heap front to back, the best case.

``random``: ``bench_event_random``, the same columns and index, about twenty
rows per second, but each row's second is drawn at random (a hash of its id)
over the whole span, so the cursor is uncorrelated with the physical order,
as in a table whose rows get updated: the case a real table is in.

Both are generated on the server from ``generate_series`` with no
randomness that changes between runs, so every run loads the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

BENCH_SCHEMA = "bench"
# Source columns in table order; the cursor is (updated_at, id).
COLUMNS = [
    "id",
    "created_at",
    "updated_at",
    "type",
    "source",
    "source_id",
    "amount",
    "host",
    "user_agent",
    "attributes",
    "is_bot",
]
DESTINATIONS = {
    "raw": "event_raw",
    "psql": "event_raw",
    "copy": "event_copy",
    "transform": "event_transformed",
    "select": "event_select",  # the transform as a select and a where (tools/bench/select.py)
    "hand": "event_hand",
    "sling": "event_sling",  # a peer (tools/bench/peer_runs.py)
}
BASE_TIME = "'2026-01-01 00:00:00+00'::timestamptz"


@dataclass(frozen=True)
class SourceTable:
    """One bench source table: its name and how a seeded row's cursor is drawn."""

    key: str  # "ordered" or "random", as on the command line and in the table
    table: str
    rows_per_second: int
    scattered: bool  # cursor drawn at random over the span instead of following n
    # Partitioned by range of id in this many ranges (PARTITION_IDS ids each, the first
    # one hash-partitioned in two), the ids past them in a default partition; 0: a table.
    partitions: int = 0

    def seed_cursor(self, total_rows: int) -> str:
        """SQL for row n's updated_at (n is the generate_series column)."""
        if not self.scattered:
            return f"({BASE_TIME} + make_interval(secs => n / {self.rows_per_second}))"
        span = max(1, total_rows // self.rows_per_second)
        # hashint8 is a fixed function of n: random-looking, the same every run.
        drawn = f"((hashint8(n)::bigint & 2147483647) %% {span})"  # %%: run with parameters
        return f"({BASE_TIME} + make_interval(secs => {drawn}))"


SOURCES = {
    "ordered": SourceTable("ordered", "bench_event", 10, scattered=False),
    "random": SourceTable("random", "bench_event_random", 20, scattered=True),
    # One row whose jsonb holds a 20 MB value (tools/bench/big.py): what one value costs.
    "big": SourceTable("big", "bench_event_big", 1, scattered=False),
    # The random table's rows in a partitioned table (tools/bench/partitions.py): 9 leaves.
    "parts": SourceTable("parts", "bench_event_parts", 20, scattered=True, partitions=7),
}
PARTITION_IDS = 125_000

_CORE_TABLE_SQL = """
DROP TABLE IF EXISTS {table};
CREATE TABLE {table} (
  id bigint PRIMARY KEY,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  type text NOT NULL,
  source text NOT NULL,
  source_id text,
  amount numeric(12, 2),
  host text,
  user_agent text,
  attributes jsonb,
  is_bot boolean NOT NULL
);
CREATE INDEX {index} ON {table} (updated_at, id);
"""


def core_table_sql(source: SourceTable) -> sql.Composed:
    """The (re)creation of ``source``'s core table with its cursor index (and partitions)."""
    create = _CORE_TABLE_SQL
    if source.partitions:
        create = create.replace("\n);\n", "\n) PARTITION BY RANGE (id);\n", 1)
    table = sql.Identifier(source.table)
    created = sql.SQL(create).format(
        table=table, index=sql.Identifier(f"{source.table}_updated_at_id_idx")
    )
    return sql.Composed([created, *_partitions_sql(source)])


def _partitions_sql(source: SourceTable) -> list[sql.Composable]:
    """``source``'s leaves: PARTITION_IDS ids each from id 1, the first one split in two by
    hash, then a default partition for every id past them."""
    table = source.table
    made: list[sql.Composable] = []
    for n in range(source.partitions):
        leaf = sql.Identifier(f"{table}_{n}")
        bounds = sql.SQL("FROM ({}) TO ({})").format(
            sql.Literal(1 + n * PARTITION_IDS), sql.Literal(1 + (n + 1) * PARTITION_IDS)
        )
        split = sql.SQL(" PARTITION BY HASH (id)" if n == 0 else "")
        made.append(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES {}{};").format(
                leaf, sql.Identifier(table), bounds, split
            )
        )
        for half in range(2 if n == 0 else 0):
            made.append(
                sql.SQL(
                    "CREATE TABLE {} PARTITION OF {} FOR VALUES WITH (MODULUS 2, REMAINDER {});"
                ).format(sql.Identifier(f"{table}_{n}_{half}"), leaf, sql.Literal(half))
            )
    if source.partitions:
        made.append(
            sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT;").format(
                sql.Identifier(f"{table}_default"), sql.Identifier(table)
            )
        )
    return made


_DEST_COLUMNS = """
  created_at timestamptz, updated_at timestamptz, type text, source text, source_id text,
  amount numeric(12, 2), host text, user_agent text, attributes jsonb, is_bot boolean
"""
ANALYTICS_TABLES_SQL = f"""
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.event_raw (id bigint PRIMARY KEY, {_DEST_COLUMNS});
CREATE TABLE bench.event_copy (id bigint PRIMARY KEY, {_DEST_COLUMNS});
CREATE TABLE bench.event_hand (id bigint PRIMARY KEY, {_DEST_COLUMNS});
CREATE TABLE bench.event_sling (id bigint PRIMARY KEY, {_DEST_COLUMNS});
CREATE TABLE bench.event_transformed (
  surrogate bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  old_id bigint NOT NULL UNIQUE, {_DEST_COLUMNS}, is_widget boolean NOT NULL DEFAULT false
);
CREATE TABLE bench.event_select (
  surrogate bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  old_id bigint NOT NULL UNIQUE, {_DEST_COLUMNS}, is_widget boolean NOT NULL DEFAULT false
);
CREATE TABLE bench.hand_position (cursor_value text, cursor_id text);
INSERT INTO bench.hand_position VALUES (NULL, NULL);
"""
# Deterministic rows n in [start, start + count): ~480 bytes each, with NULLs,
# numeric, jsonb, and text holding quotes, tabs, backslashes and newlines.
# ``{updated}`` is the cursor: SourceTable.seed_cursor for seeded rows, now() for new ones.
ROWS_SQL = """
INSERT INTO {table}
SELECT n,
       {updated} - make_interval(mins => (n %% 1440)::int),
       {updated},
       (ARRAY['click', 'print', 'apply', 'account'])[1 + n %% 4],
       (ARRAY['api', 'widget', 'campaign', 'seo', 'jstag', 'publisher'])[1 + (n / 7) %% 6],
       CASE WHEN n %% 20 = 0 THEN NULL ELSE 'src-' || (n %% 500) END,
       CASE WHEN n %% 10 = 3 THEN NULL ELSE round((n %% 100000) / 7.0, 2) END,
       CASE n %% 100 WHEN 1 THEN 'O''Brien says "hi"' WHEN 2 THEN E'line1\\nline2\\ttab\\\\slash'
            ELSE 'www.site-' || (n %% 100) || '.example' END,
       'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/'
         || (n %% 120) || '.0 Safari/537.36 ' || md5(n::text) || md5((n * 7)::text),
       CASE WHEN n %% 10 < 7 THEN jsonb_build_object(
         'utm_source', (ARRAY['google', 'mail', NULL])[1 + n %% 3], 'n', n,
         'nested', jsonb_build_object('k', md5((n * 3)::text), 'q', E'a "quote"\\nand newline'),
         'tags', jsonb_build_array('remote', 'été', n %% 7)) END,
       n %% 33 = 0
FROM generate_series(%(start)s::bigint, %(start)s::bigint + %(count)s::bigint - 1) AS n
"""
UPDATE_SQL = """
UPDATE {table} SET updated_at = now(), amount = coalesce(amount, 0) + 1,
       host = coalesce(host, '') || ' (edited)'
WHERE id %% 100 = %(slot)s AND id <= %(seeded)s
"""


def rows_sql(source: SourceTable, updated: str) -> str:
    """ROWS_SQL into ``source``'s table, with ``updated`` as each row's cursor."""
    return ROWS_SQL.replace("{table}", _quoted(source.table)).replace("{updated}", updated)


def update_sql(source: SourceTable) -> str:
    return UPDATE_SQL.replace("{table}", _quoted(source.table))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# What each destination must hold, as one text per row on both sides.
_ROW_TEXT = "ROW(" + ", ".join(COLUMNS) + ")::text"
_TRANSFORMED_SOURCE = (
    "ROW(id, created_at, updated_at, type,"
    " CASE source WHEN 'publisher' THEN 'api' ELSE source END, source_id, amount, host,"
    " user_agent, attributes, is_bot, source = 'widget')::text"
)
_TRANSFORMED_DEST = (
    "ROW(old_id, created_at, updated_at, type, source, source_id, amount, host,"
    " user_agent, attributes, is_bot, is_widget)::text"
)
_CHECKSUM = "SELECT count(*), coalesce(sum(hashtextextended({}, 0)::numeric), 0) FROM {}{}"


def checksum_sql(source: SourceTable, mode: str) -> tuple[str, str]:
    """(core query, analytics query), each one row: count and order-independent checksum."""
    table = _quoted(source.table)
    if mode in ("transform", "select"):  # the same transform, in Python or in SQL
        src = _CHECKSUM.format(_TRANSFORMED_SOURCE, table, " WHERE source_id IS NOT NULL")
        dst = _CHECKSUM.format(_TRANSFORMED_DEST, f"{BENCH_SCHEMA}.{DESTINATIONS[mode]}", "")
        return src, dst
    src = _CHECKSUM.format(_ROW_TEXT, table, "")
    return src, _CHECKSUM.format(_ROW_TEXT, f"{BENCH_SCHEMA}.{DESTINATIONS[mode]}", "")


# The source's types, for a destination whose table a peer created with its own
# (dlt: text where a value was a str, numeric(38,9) without precision hints).
_SOURCE_TYPES = {
    "id": "bigint",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "amount": "numeric(12, 2)",
    "attributes": "jsonb",
    "is_bot": "boolean",
}
_CAST_ROW_TEXT = (
    "ROW("
    + ", ".join(f"{c}::{_SOURCE_TYPES[c]}" if c in _SOURCE_TYPES else c for c in COLUMNS)
    + ")::text"
)


def cast_checksum_sql(source: SourceTable, schema: str, table: str) -> tuple[str, str]:
    """checksum_sql for ``schema.table``, its columns cast to the source's types first:
    equal values stored under other types still compare equal, lost or altered ones do not."""
    src = _CHECKSUM.format(_ROW_TEXT, _quoted(source.table), "")
    return src, _CHECKSUM.format(_CAST_ROW_TEXT, f"{_quoted(schema)}.{_quoted(table)}", "")
